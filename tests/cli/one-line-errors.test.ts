/**
 * What a newcomer meets when something outside Confab is wrong: one plain line on stderr, no
 * stack trace, and the exit code the README's table gives (1 a problem to fix, 2 a usage
 * mistake). Every case runs the real executable.
 */
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanUp, runConfab, tempDir } from './run-confab';
import { mainHelp } from '../../src/cli/main';
import { FakeDiscord } from '../fakes/discord/server';

afterAll(cleanUp);

function expectOneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at /m);
  return lines[0];
}

async function listen(server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('confab with no command', () => {
  it('prints the help on stderr and exits 2', async () => {
    const run = await runConfab([]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(mainHelp());
  });
});

describe('confab agreement', () => {
  it('a missing CSV is a problem to fix: exit 1, one line naming the file', async () => {
    const dir = tempDir();
    const missing = path.join(dir, 'votes.csv');
    const run = await runConfab(['agreement', '--csv', missing]);
    expect(run.code).toBe(1);
    expect(expectOneLine(run.stderr)).toBe(`Cannot read ${missing}: no such file.`);
  });

  it('a CSV without the needed columns is exit 1 too; a missing --csv stays a usage mistake (2)', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'votes.csv'), 'item,who\n1,alice\n');
    const bad = await runConfab(['agreement', '--csv', path.join(dir, 'votes.csv')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('has no column "reviewer", "label"');
    const usage = await runConfab(['agreement']);
    expect(usage.code).toBe(2);
    expect(expectOneLine(usage.stderr)).toBe('confab agreement: --csv PATH is required. Run `confab agreement --help`.');
  });
});

describe('confab worker on a port in use', () => {
  it('says which port and how to choose another, in one line, exit 1', async () => {
    const holder = createServer();
    const port = await listen(holder);
    try {
      const run = await runConfab(['worker', '--port', String(port)]);
      expect(run.code).toBe(1);
      expect(expectOneLine(run.stderr)).toBe(
        `confab worker: Port ${port} on 127.0.0.1 is already in use (EADDRINUSE); stop what listens on 127.0.0.1:${port}, or choose another with --port N or CONFAB_WORKER_PORT (0 picks a free one).`,
      );
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  }, 120_000);
});

describe('a data folder Confab cannot write', () => {
  // Root may write anywhere, so as root the run drops to nobody; the folder must still be
  // reachable by that user (the temp folder is made readable for it).
  const asRoot = process.getuid?.() === 0;
  const user = asRoot ? { uid: 65534, gid: 65534 } : {};

  it('stops confab start with one line naming the folder, exit 1', async () => {
    const cwd = tempDir();
    const data = path.join(cwd, 'data');
    mkdirSync(data);
    chmodSync(data, 0o555);
    chmodSync(cwd, 0o755);
    // A home the user can write, as a real one is (ONNX Runtime keeps a file there).
    const home = path.join(cwd, 'home');
    mkdirSync(home);
    if (asRoot) chownSync(home, 65534, 65534);
    const run = await runConfab(['start', '--local'], { cwd, env: { CONFAB_DATA_DIR: data, HOME: home }, ...user });
    expect(run.code).toBe(1);
    const line = expectOneLine(run.stderr);
    expect(line).toMatch(/^confab start: The database at .*data\/pglite is unavailable: /);
    expect(line).toContain('EACCES');
  }, 120_000);
});

describe('an unreachable Discord', () => {
  it('stops confab start with one line naming where it looked, exit 1', async () => {
    const port = await closedPort();
    const data = tempDir();
    const run = await runConfab(['start'], {
      env: { CONFAB_DATA_DIR: data, DISCORD_TOKEN: 'a-token', DISCORD_APPLICATION_ID: '123456789', DISCORD_API_BASE: `http://127.0.0.1:${port}/api`, CONFAB_LOG_LEVEL: 'warn' },
    });
    expect(run.code).toBe(1);
    expect(expectOneLine(run.stderr)).toMatch(
      new RegExp(`^confab start: Discord is unreachable at http://127\\.0\\.0\\.1:${port}/api \\(ECONNREFUSED: .*\\)\\. Check the network or proxy, and DISCORD_API_BASE if it is set\\.$`),
    );
  }, 180_000);

  it('a token Discord refuses stops the start with one line too', async () => {
    const fake = await FakeDiscord.start();
    try {
      const run = await runConfab(['start'], {
        env: { CONFAB_DATA_DIR: tempDir(), DISCORD_TOKEN: 'not-the-token', DISCORD_APPLICATION_ID: fake.applicationId, DISCORD_API_BASE: fake.apiBase, CONFAB_LOG_LEVEL: 'warn' },
      });
      expect(run.code).toBe(1);
      expect(expectOneLine(run.stderr)).toBe('confab start: Discord refused DISCORD_TOKEN (401 at login). Copy the token again from the Bot page of your application.');
    } finally {
      await fake.close();
    }
  }, 180_000);
});
