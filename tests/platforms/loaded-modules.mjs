// Run as `node --import ./loaded-modules.mjs PROGRAM` with MODULE_PROBE_FILE set: appends the URL
// of every module the program resolves (ESM imports, and CommonJS packages imported from ESM),
// then at exit every CommonJS file in require.cache, one per line.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const file = process.env.MODULE_PROBE_FILE;
register('./loaded-modules-hooks.mjs', import.meta.url, { data: { file } });
const require = createRequire(import.meta.url);
process.on('exit', () => appendFileSync(file, Object.keys(require.cache).map((f) => `${f}\n`).join('')));
