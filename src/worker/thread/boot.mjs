// Entry point of the engine thread. A worker thread does not inherit the main thread's
// module hooks (under `confab`, tsx is registered programmatically; under vitest, the main
// thread's transform does not reach workers), so the thread registers tsx itself before it
// loads the TypeScript host.
import { register } from 'tsx/esm/api';

register();
await import('./host.ts');
