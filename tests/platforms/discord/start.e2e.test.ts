/**
 * `confab start` with DISCORD_TOKEN and DISCORD_APPLICATION_ID set: the real process connects
 * to the local Discord-compatible server (DISCORD_API_BASE), registers its commands
 * (DISCORD_REGISTER_ON_START), answers a command, and exits cleanly on SIGTERM.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeDiscord } from '../../fakes/discord/server';
import { HAS_REFERENCE_STACK, MEMBERS } from './harness';

const CONFAB = path.resolve(import.meta.dirname, '../../../bin/confab.mjs');
const cleanup: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
});

describe.skipIf(!HAS_REFERENCE_STACK)('confab start with Discord configured', () => {
  it('connects, registers, answers, and stops cleanly on SIGTERM', async () => {
    const fake = await FakeDiscord.start();
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'confab-discord-start-'));
    cleanup.push(() => fake.close(), () => rm(dataDir, { recursive: true, force: true }));
    let stderr = '';
    const bot = spawn(process.execPath, [CONFAB, 'start'], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        CONFAB_DATA_DIR: dataDir,
        DISCORD_TOKEN: fake.token,
        DISCORD_APPLICATION_ID: fake.applicationId,
        DISCORD_GUILD_ID: fake.guildId,
        DISCORD_API_BASE: fake.apiBase,
        DISCORD_REGISTER_ON_START: '1',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    bot.stderr!.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => bot.once('exit', (code) => resolve(code)));
    cleanup.push(async () => {
      if (bot.exitCode === null) bot.kill('SIGKILL');
    });

    const registered = await Promise.race([
      fake.waitForRequest((r) => r.method === 'PUT' && r.path === `/applications/${fake.applicationId}/guilds/${fake.guildId}/commands`, 90_000),
      exited.then((code) => Promise.reject(new Error(`confab start exited with ${code}: ${stderr}`))),
    ]);
    expect((registered.body as Array<{ name: string }>).map((c) => c.name)).toContain('explain');
    expect(fake.connectedClients).toBe(1);

    const stats = fake.slash('stats', {}, MEMBERS.bo);
    expect((await fake.waitForCallback(stats)).body.type).toBe(5);
    expect((await fake.waitForWebhook(stats)).body.embeds[0].title).toMatch(/^Stats/);

    bot.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(fake.connectedClients).toBe(0);
    expect(stderr).not.toMatch(/Error|at .*\.ts:\d+/);
  }, 120_000);
});

describe('confab discord register', () => {
  it('bulk-overwrites guild commands, and names a refused token', async () => {
    const fake = await FakeDiscord.start();
    cleanup.push(() => fake.close());
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, DISCORD_APPLICATION_ID: fake.applicationId, DISCORD_API_BASE: fake.apiBase };
    const run = promisify(execFile);
    const ok = await run(process.execPath, [CONFAB, 'discord', 'register', '--guild', fake.guildId], { env: { ...env, DISCORD_TOKEN: fake.token } });
    expect(ok.stdout).toMatch(new RegExp(`^Registered \\d+ commands in guild ${fake.guildId}: .*/explain.*/confab-settings`));
    const put = await fake.waitForRequest((r) => r.method === 'PUT');
    expect(put.path).toBe(`/applications/${fake.applicationId}/guilds/${fake.guildId}/commands`);

    const refused = await run(process.execPath, [CONFAB, 'discord', 'register'], { env: { ...env, DISCORD_TOKEN: 'not-the-token' } }).catch((e) => e);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('Discord refused DISCORD_TOKEN (401)');
    expect(fake.requests.filter((r) => r.method === 'PUT' && r.status === 401).map((r) => r.path)).toEqual([`/applications/${fake.applicationId}/commands`]);
  }, 60_000);
});
