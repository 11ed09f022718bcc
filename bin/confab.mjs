#!/usr/bin/env node
// The published entry point. `npm ci` bundles the TypeScript into dist/ (the `prepare` script,
// scripts/build.mjs), and confab runs that bundle while it was built from the sources as they
// are now. Otherwise (an edited checkout, or no build) tsx compiles the sources on load, so
// what runs is always what the sources say, and a fresh clone needs no step beyond `npm ci`.
import { readFileSync } from 'node:fs';
import { sourceFingerprint } from '../scripts/build.mjs';

const argv = process.argv.slice(2);
const main = (await builtMain()) ?? (await sourceMain());
const code = await main(argv);
process.exitCode = typeof code === 'number' ? code : 0;
// Every command has finished and closed what it opened when main returns. Should a library
// still hold a handle (a socket in a keep-alive pool, a timer), exit anyway rather than hang a
// script; the timer is unref'd, so a clean run exits at once without waiting for it.
setTimeout(() => process.exit(process.exitCode), 3000).unref();

async function builtMain() {
  let build;
  try {
    build = JSON.parse(readFileSync(new URL('../dist/build.json', import.meta.url), 'utf8'));
  } catch {
    return null;
  }
  if (build.fingerprint !== sourceFingerprint()) return null;
  return (await import('../dist/confab.mjs')).main;
}

async function sourceMain() {
  // PGlite is plain JavaScript, so it is imported natively before tsx's loader is registered:
  // through the loader its import left the process 42-47 MB larger than a native import does
  // (measured; BENCHMARKS.md "Dataset"). Later imports of it from the TypeScript sources reuse
  // this module. Help and agreement open no database, so they skip the import.
  const noDatabase = argv.length === 0 || ['help', '--version', '-v', 'agreement'].includes(argv[0]) || argv.includes('--help') || argv.includes('-h');
  if (!noDatabase) await import('@electric-sql/pglite');
  const { register } = await import('tsx/esm/api');
  register();
  return (await import('../src/cli/main.ts')).main;
}
