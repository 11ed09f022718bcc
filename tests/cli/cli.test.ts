import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { Readable, Writable } from 'node:stream';
import { CLI_COMMANDS, main } from '../../src/cli/main';
import { allCommands } from '../../commands';
import { FakeDiscord } from '../fakes/discord/server';
import { cleanUp, runConfab, startConfab, tempDir } from './run-confab';

afterAll(cleanUp);

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The lines a user sees on stderr; a stack trace would show "    at …" frames. */
function expectOneClearLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at /m);
  return lines[0];
}

/** Runs main() in this process with captured streams: the same code the executable runs. */
async function runMain(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runMainWith(argv, {});
}

async function runMainWith(argv: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const sink = (write: (s: string) => void) => new Writable({ write: (chunk, _enc, done) => (write(String(chunk)), done()) });
  const code = await main(argv, {
    stdin: Readable.from([]),
    stdout: sink((s) => (stdout += s)),
    stderr: sink((s) => (stderr += s)),
    env,
  });
  return { code, stdout, stderr };
}

describe('confab help', () => {
  it('lists every command with --help and -h; with no arguments on stderr, as a usage mistake (2)', async () => {
    for (const args of [['--help'], ['-h']]) {
      const run = await runMain(args);
      expect(run.code).toBe(0);
      for (const command of CLI_COMMANDS) expect(run.stdout).toContain(`  ${command.name}`);
    }
    const bare = await runMain([]);
    expect(bare.code).toBe(2);
    expect(bare.stdout).toBe('');
    for (const command of CLI_COMMANDS) expect(bare.stderr).toContain(`  ${command.name}`);
  });

  it('has help on every command, built from its options', async () => {
    for (const entry of CLI_COMMANDS) {
      const command = await entry.load();
      // The list that `confab --help` prints without loading the commands says what they say.
      expect([command.name, command.summary]).toEqual([entry.name, entry.summary]);
      for (const argv of [[...command.name.split(' '), '--help'], ['help', ...command.name.split(' ')]]) {
        const run = await runMain(argv);
        expect(run.code, command.name).toBe(0);
        expect(run.stdout).toContain(`Usage: confab ${command.name}`);
        expect(run.stdout).toContain(command.summary);
        for (const option of Object.keys(command.options)) expect(run.stdout, `${command.name} --${option}`).toContain(`--${option}`);
      }
    }
    const start = (await runMain(['start', '-h'])).stdout;
    expect(start).toContain('--local');
    expect(start).toContain('--as NAME');
    expect(start).toContain('--admin');
  });

  it('the executable prints the same help', async () => {
    const run = await runConfab(['worker', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe((await runMain(['worker', '--help'])).stdout);
    expect(run.stdout).toContain('--port N');
  });
});

describe('confab usage mistakes exit 2 with a clear message', () => {
  it('an unknown command', async () => {
    const run = await runConfab(['launch']);
    expect(run.code).toBe(2);
    const names = CLI_COMMANDS.map((c) => c.name).join(', ');
    expect(expectOneClearLine(run.stderr)).toBe(`confab: unknown command "launch". Commands: ${names}. Run \`confab --help\`.`);
    expect(run.stdout).toBe('');
  });

  it('a command group without its subcommand', async () => {
    const bare = await runMain(['discord']);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toBe('confab discord: needs a subcommand: register. Run `confab discord register --help`.\n');
    const help = await runMain(['dataset', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('dataset export');
  });

  it('an unknown option, a missing value, an extra argument', async () => {
    const [unknown, missing, extra] = await Promise.all([runMain(['start', '--locl']), runMain(['start', '--as']), runMain(['migrate', 'now'])]);
    for (const run of [unknown, missing, extra]) expect(run.code).toBe(2);
    expect(expectOneClearLine(unknown.stderr)).toMatch(/^confab start: Unknown option '--locl'\. Run `confab start --help`\.$/);
    expect(expectOneClearLine(missing.stderr)).toMatch(/--as/);
    expect(expectOneClearLine(extra.stderr)).toMatch(/Unexpected argument 'now'/);
  });

  it('a reviewer name that is not a name', async () => {
    const run = await runMain(['start', '--local', '--as', 'eve; rm -rf /']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('Reviewer name "eve; rm -rf /" is not allowed; use 1 to 64 letters, digits, ".", "_" or "-".');
  });

  it('bad export options', async () => {
    const run = await runMain(['dataset', 'export', '--format', 'csv']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--format must be jsonl or parquet; got "csv".');
  });

  it('a bad port for the worker', async () => {
    const run = await runMain(['worker', '--port', 'eighty']);
    expect(run.code).toBe(2);
    expect(expectOneClearLine(run.stderr)).toContain('--port must be a whole number from 0 to 65535; got "eighty".');
  });
});

describe('confab operator errors exit 1 with one line and no stack trace', () => {
  it('a bad variable in the environment', async () => {
    const run = await runConfab(['migrate'], { env: { CONFAB_MAX_PROMPT_CHARS: 'lots' } });
    expect(run.code).toBe(1);
    expect(expectOneClearLine(run.stderr)).toBe('confab migrate: CONFAB_MAX_PROMPT_CHARS="lots" is not valid: expected a whole number from 1 to 100000.');
  });

  it('a bad variable in .env', async () => {
    const cwd = tempDir();
    writeFileSync(path.join(cwd, '.env'), 'CONFAB_LOG_LEVEL=chatty\n');
    const run = await runConfab(['start', '--local'], { cwd });
    expect(run.code).toBe(1);
    expect(expectOneClearLine(run.stderr)).toContain('CONFAB_LOG_LEVEL="chatty" is not valid: expected debug, info, warn or error.');
  });

  it('a model manifest that is not there', async () => {
    const run = await runMainWith(['worker', '--port', '0', '--models', '/nonexistent/manifest.yaml'], {});
    expect(run.code).toBe(1);
    expect(expectOneClearLine(run.stderr)).toMatch(/^confab worker: \/nonexistent\/manifest\.yaml: .*ENOENT/);
  });

  it('an unreachable database, with its password masked', async () => {
    const port = await closedPort();
    const run = await runConfab(['migrate'], { env: { DATABASE_URL: `postgres://confab:hunter2@127.0.0.1:${port}/confab` } });
    expect(run.code).toBe(1);
    const line = expectOneClearLine(run.stderr);
    expect(line).toContain(`The database at postgres://confab:***@127.0.0.1:${port}/confab is unavailable`);
    expect(line).toContain('ECONNREFUSED');
    expect(run.stderr).not.toContain('hunter2');
  });
});

describe('confab doctor', () => {
  it('masks every secret and reports each check', async () => {
    const port = await closedPort();
    const secrets = {
      DATABASE_URL: `postgres://confab:db-password-1@127.0.0.1:${port}/confab`,
      CONFAB_WORKER_SECRET: 'worker-secret-2',
      CONFAB_INSTALL_SECRET: 'install-secret-3-long',
      DISCORD_TOKEN: 'discord-token-4',
      DISCORD_APPLICATION_ID: '123456789',
      SLACK_BOT_TOKEN: 'xoxb-slack-token-5',
      SLACK_SIGNING_SECRET: 'slack-signing-6',
      OPENAI_API_KEY: 'openai-key-7',
      CONFAB_JUDGE_MODEL: 'judge',
    };
    const run = await runConfab(['doctor'], {
      env: {
        ...secrets,
        WORKER_URLS: `http://127.0.0.1:${port},http://gpu:worker-password-8@127.0.0.1:${port}/?api_key=worker-key-9`,
        OPENAI_BASE_URL: 'https://judge:openai-password-10@llm.example/v1?token=openai-token-11',
        CONFAB_MODELS_TYPO: 'x',
      },
    });
    const all = run.stdout + run.stderr;
    for (const [name, value] of Object.entries(secrets)) {
      if (name === 'DISCORD_APPLICATION_ID' || name === 'CONFAB_JUDGE_MODEL') continue;
      expect(all, name).not.toContain(name === 'DATABASE_URL' ? 'db-password-1' : value);
    }
    for (const inUrl of ['worker-password-8', 'worker-key-9', 'openai-password-10', 'openai-token-11']) expect(all).not.toContain(inUrl);
    expect(run.stdout).toContain('OPENAI_BASE_URL');
    expect(run.stdout).toContain('https://judge:***@llm.example/v1?token=***');
    expect(run.stdout).toMatch(new RegExp(`FAIL worker http://gpu:\\*\\*\\*@127\\.0\\.0\\.1:${port}/\\?api_key=\\*\\*\\*`));
    expect(run.stdout).toMatch(/^ {2}CONFAB_WORKER_SECRET +set \(hidden\)$/m);
    expect(run.stdout).toMatch(new RegExp(`^ {2}DATABASE_URL +postgres://confab:\\*\\*\\*@127\\.0\\.0\\.1:${port}/confab$`, 'm'));
    expect(run.stdout).toMatch(/^ {2}CONFAB_MAX_PROMPT_CHARS +2000 \(default\)$/m);
    expect(run.stdout).toContain('warning: CONFAB_MODELS_TYPO is set but Confab does not read it');
    expect(run.stdout).toMatch(/FAIL PostgreSQL at .*unavailable/);
    expect(run.stdout).toMatch(new RegExp(`FAIL worker http://127\\.0\\.0\\.1:${port}`));
    expect(run.stdout).toContain('discord: Discord application 123456789, all guilds');
    expect(run.code).toBe(1);
  });

  it('passes on the embedded defaults, naming the database, model and layer', async () => {
    const data = tempDir('confab-doctor-');
    const run = await runConfab(['doctor'], { env: { CONFAB_DATA_DIR: data } });
    expect(run.stdout).toContain(`ok   PGlite at ${path.join(data, 'pglite')}: reachable, migrations applied.`);
    expect(run.stdout).toMatch(/ok {3}embedded worker \(.*models\/reference\/manifest\.yaml\): healthy; model confab-reference-v1, layer \d+, d_model 128/);
    expect(run.stdout).toContain('terminal (no chat channel is configured)');
    expect(run.stdout).toContain('All checks passed.');
    expect(run.code).toBe(0);
  });
});

describe('confab discord register', () => {
  it('publishes every chat command to the guild, and says so', async () => {
    const fake = await FakeDiscord.start();
    try {
      const env = { DISCORD_TOKEN: fake.token, DISCORD_APPLICATION_ID: fake.applicationId, DISCORD_API_BASE: fake.apiBase };
      const run = await runMainWith(['discord', 'register', '--guild', fake.guildId], env);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const registered = (fake.commands.get(fake.guildId) ?? []).map((c: { name: string }) => c.name);
      expect(registered.length).toBe(allCommands.length);
      expect(run.stdout).toContain(`Registered ${allCommands.length} commands in guild ${fake.guildId}: /`);

      const refused = await runMainWith(['discord', 'register'], { ...env, DISCORD_TOKEN: 'not-the-token' });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toBe('confab discord register: Discord refused DISCORD_TOKEN (401).\n');
    } finally {
      await fake.close();
    }
  });
});

describe('confab worker', () => {
  it('serves the reference stack until SIGTERM, with the secret required beyond /health', async () => {
    const worker = startConfab(['worker', '--port', '0'], { env: { CONFAB_WORKER_SECRET: 'a-shared-secret' } });
    try {
      await worker.waitForOutput(/listening on http:\/\/127\.0\.0\.1:\d+/, 120_000);
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(worker.stdout())![1];
      expect((await fetch(`${url}/health`)).status).toBe(200);
      expect((await fetch(`${url}/v1/capabilities`)).status).toBe(401);
      const caps = await fetch(`${url}/v1/capabilities`, { headers: { 'x-secret-key': 'a-shared-secret' } });
      expect(caps.status).toBe(200);
      expect(await caps.json()).toMatchObject({ model: 'confab-reference-v1', d_model: 128 });
    } finally {
      worker.child.kill('SIGTERM');
    }
    const done = await worker.done;
    expect(done.code, done.stderr).toBe(0);
  }, 180_000);
});
