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
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';

const args = process.argv.slice(2);
const requirePg = args.includes('--pg');
const vitestArgs = args.filter((a) => a !== '--pg');

function say(line) {
  console.log(`[test] ${line}`);
}

/** The newest Debian PostgreSQL server's bin directory, if any. */
function findPostgresBin() {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')) && existsSync(path.join(root, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? path.join(root, versions[0], 'bin') : null;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user. */
function postgresUser() {
  if (userInfo().uid !== 0) return { run: (cmd, cmdArgs) => [cmd, cmdArgs], chownTo: null };
  const passwd = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!passwd) return null;
  const [, , uid, gid] = passwd.split(':');
  return { run: (cmd, cmdArgs) => ['runuser', ['-u', 'postgres', '--', cmd, ...cmdArgs]], chownTo: { uid: Number(uid), gid: Number(gid) } };
}

function runQuiet(cmd, cmdArgs) {
  const result = spawnSync(cmd, cmdArgs, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-5).join(' | ');
    throw new Error(`${path.basename(cmdArgs.find((a) => a.startsWith('/')) ?? cmd)} failed (exit ${result.status}): ${output || result.error?.message}`);
  }
}

/** Starts a throwaway cluster; returns its URL and a stop function, or the reason it cannot. */
async function startThrowawayPostgres() {
  const bin = findPostgresBin();
  if (!bin) return { skipped: 'no PostgreSQL server is installed (apt-get install postgresql)' };
  const user = postgresUser();
  if (!user) return { skipped: 'running as root and there is no "postgres" user to run the server as' };
  const dir = mkdtempSync(path.join(tmpdir(), 'confab-pg-'));
  const data = path.join(dir, 'data');
  if (user.chownTo) chownSync(dir, user.chownTo.uid, user.chownTo.gid);
  const port = await freePort();
  const pgCtl = path.join(bin, 'pg_ctl');
  let started = false;
  const stop = () => {
    if (started) {
      const [cmd, cmdArgs] = user.run(pgCtl, ['-D', data, '-m', 'immediate', '-w', 'stop']);
      spawnSync(cmd, cmdArgs, { stdio: 'ignore' });
      started = false;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // trust auth on a loopback-only, throwaway cluster; fsync off because nothing here must survive a crash.
    runQuiet(...user.run(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']));
    const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
    runQuiet(...user.run(pgCtl, ['-D', data, '-o', options, '-l', path.join(dir, 'server.log'), '-w', '-t', '60', 'start']));
    started = true;
  } catch (error) {
    const log = path.join(dir, 'server.log');
    const tail = existsSync(log) ? ` Server log: ${readFileSync(log, 'utf8').trim().split('\n').slice(-3).join(' | ')}` : '';
    stop();
    return { skipped: `the throwaway PostgreSQL server did not start: ${error.message}.${tail}` };
  }
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, stop, version: path.basename(path.dirname(bin)) };
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
