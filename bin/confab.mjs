#!/usr/bin/env node
// The published entry point. tsx compiles the TypeScript sources on load, so a fresh
// clone runs with `npm ci` alone and no build step to forget.
import { register } from 'tsx/esm/api';

// PGlite is plain JavaScript, so it is imported natively before tsx's loader is registered:
// through the loader its import left the process 42-47 MB larger than a native import does
// (measured; BENCHMARKS.md "Dataset"). Later imports of it from the TypeScript sources reuse
// this module.
await import('@electric-sql/pglite');
register();
const { main } = await import('../src/cli/main.ts');
const code = await main(process.argv.slice(2));
process.exitCode = typeof code === 'number' ? code : 0;
// Every command has finished and closed what it opened when main returns. Should a library
// still hold a handle (a socket in a keep-alive pool, a timer), exit anyway rather than hang a
// script; the timer is unref'd, so a clean run exits at once without waiting for it.
setTimeout(() => process.exit(process.exitCode), 3000).unref();
