/**
 * Run as `node --import tsx sdk-probe.ts MODULE`: imports MODULE and prints how many files of a
 * chat platform SDK that loaded. The SDKs are CommonJS, so each loaded file is in require.cache.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
await import(process.argv[2]);
const sdkFiles = Object.keys(require.cache).filter((file) => /node_modules[\\/](discord\.js|@discordjs|@slack)[\\/]/.test(file));
process.stdout.write(`${sdkFiles.length}\n`);
