// A throwaway PostgreSQL cluster on loopback, for the test suite (`scripts/test.mjs`), the chaos
// harness and the load benchmark: Debian's server (/usr/lib/postgresql/<v>/bin), trust auth, fsync
// off, removed by stop(). restart() stops it (fast, as an operator would) and starts it again on
// the same port and data.
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';

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
export async function startThrowawayPostgres() {
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
  let options = '';
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
    options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
    runQuiet(...user.run(pgCtl, ['-D', data, '-o', options, '-l', path.join(dir, 'server.log'), '-w', '-t', '60', 'start']));
    started = true;
  } catch (error) {
    const log = path.join(dir, 'server.log');
    const tail = existsSync(log) ? ` Server log: ${readFileSync(log, 'utf8').trim().split('\n').slice(-3).join(' | ')}` : '';
    stop();
    return { skipped: `the throwaway PostgreSQL server did not start: ${error.message}.${tail}` };
  }
  const restart = () => {
    const [stopCmd, stopArgs] = user.run(pgCtl, ['-D', data, '-m', 'fast', '-w', 'stop']);
    spawnSync(stopCmd, stopArgs, { stdio: 'ignore' });
    runQuiet(...user.run(pgCtl, ['-D', data, '-o', options, '-l', path.join(dir, 'server.log'), '-w', '-t', '60', 'start']));
  };
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, stop, restart, version: path.basename(path.dirname(bin)) };
}

