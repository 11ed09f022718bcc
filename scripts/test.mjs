#!/usr/bin/env node
// `npm test`: runs the vitest suite and ends with the plain `N passed, N failed, N skipped` line
// that CI reads (vitest's own summary is not in a form CI recognises, and a run of zero tests
// must be visible).
//
// The PostgreSQL suite reads CONFAB_TEST_PG_URL. When it is unset and Debian's PostgreSQL
// server is installed (/usr/lib/postgresql/<v>/bin), this script starts a throwaway cluster on
// loopback for the run and removes it afterwards; otherwise it says plainly that the
// PostgreSQL tests are skipped.
//
//   node scripts/test.mjs [--pg] [vitest args...]
//   --pg  require PostgreSQL: fail instead of skipping its suite when none can be started.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startThrowawayPostgres } from './postgres.mjs';

const args = process.argv.slice(2);
const requirePg = args.includes('--pg');
const vitestArgs = args.filter((a) => a !== '--pg');

function say(line) {
  console.log(`[test] ${line}`);
}

let cluster = null;
const env = { ...process.env };
if (env.CONFAB_TEST_PG_URL) {
  say('PostgreSQL suite: using CONFAB_TEST_PG_URL from the environment.');
} else {
  const started = await startThrowawayPostgres();
  if (started.url) {
    cluster = started;
    env.CONFAB_TEST_PG_URL = started.url;
    say(`PostgreSQL suite: throwaway PostgreSQL ${started.version} cluster on ${started.url} (removed after the run).`);
  } else if (requirePg) {
    say(`PostgreSQL is required (--pg) but ${started.skipped}.`);
    process.exit(1);
  } else {
    say(`PostgreSQL suite SKIPPED: ${started.skipped}. Set CONFAB_TEST_PG_URL to run it against a server.`);
  }
}

// A Ctrl-C or a CI timeout must not leave a server running: forward the signal, then clean up.
let interrupted = null;
const outDir = mkdtempSync(path.join(tmpdir(), 'confab-test-'));
const outFile = path.join(outDir, 'results.json');
const child = spawn(
  process.execPath,
  [
    'node_modules/vitest/vitest.mjs',
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${outFile}`,
    ...vitestArgs,
  ],
  { stdio: 'inherit', env },
);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    interrupted = signal;
    child.kill(signal);
  });
}
const status = await new Promise((resolve) => child.on('close', (code) => resolve(code ?? 1)));
cluster?.stop();

let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(outFile)) {
  const report = JSON.parse(readFileSync(outFile, 'utf8'));
  passed = report.numPassedTests ?? 0;
  skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  // A file that fails to load has no failed tests, but is a failure all the same.
  const brokenFiles = (report.testResults ?? []).filter((r) => r.status === 'failed' && (r.assertionResults ?? []).every((a) => a.status !== 'failed')).length;
  failed = (report.numFailedTests ?? 0) + brokenFiles;
} else if (status !== 0) {
  failed = 1;
}
rmSync(outDir, { recursive: true, force: true });
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
if (interrupted) process.exit(130);
process.exit(status === 0 && failed === 0 && passed > 0 ? 0 : 1);
