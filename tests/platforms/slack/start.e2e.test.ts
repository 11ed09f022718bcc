/**
 * `confab start` with Slack configured: the real process connects in Socket Mode through
 * SLACK_API_URL, beside the Discord channel in the same process, answers a command on each,
 * and exits cleanly on SIGTERM.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeDiscord } from '../../fakes/discord/server';
import { FakeSlack } from '../../fakes/slack/server';
import { MEMBERS } from '../discord/harness';
import { blockText, HAS_REFERENCE_STACK, USERS } from './harness';

const CONFAB = path.resolve(import.meta.dirname, '../../../bin/confab.mjs');
const cleanup: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
});

describe.skipIf(!HAS_REFERENCE_STACK)('confab start with Slack (Socket Mode) and Discord configured', () => {
  it('connects both, answers on each, and stops cleanly on SIGTERM', async () => {
    const slack = await FakeSlack.start(Object.values(USERS));
    slack.mode = 'socket';
    const discord = await FakeDiscord.start();
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'confab-slack-start-'));
    cleanup.push(() => slack.close(), () => discord.close(), () => rm(dataDir, { recursive: true, force: true }));
    let stderr = '';
    const bot = spawn(process.execPath, [CONFAB, 'start'], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        CONFAB_DATA_DIR: dataDir,
        SLACK_BOT_TOKEN: slack.botToken,
        SLACK_APP_TOKEN: slack.appToken,
        SLACK_API_URL: slack.apiUrl,
        DISCORD_TOKEN: discord.token,
        DISCORD_APPLICATION_ID: discord.applicationId,
        DISCORD_GUILD_ID: discord.guildId,
        DISCORD_API_BASE: discord.apiBase,
        DISCORD_REGISTER_ON_START: '1',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    bot.stderr!.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => bot.once('exit', (code) => resolve(code)));
    cleanup.push(async () => {
      if (bot.exitCode === null) bot.kill('SIGKILL');
    });

    const died = exited.then((code) => Promise.reject(new Error(`confab start exited with ${code}: ${stderr}`)));
    await Promise.race([slack.waitFor((c) => c.method === 'apps.connections.open', 90_000), died]);
    await Promise.race([discord.waitForRequest((r) => r.method === 'PUT' && r.path.endsWith('/commands'), 90_000), died]);
    for (let i = 0; i < 100 && slack.connectedSockets === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(slack.connectedSockets).toBe(1);

    const from = slack.calls.length;
    const delivery = await slack.slash('stats', USERS.bo);
    expect(delivery.ack).toEqual({});
    const stats = await slack.waitFor((c) => c.method === 'response_url', 30_000, from);
    expect(blockText(stats.args.blocks)).toContain('Stats');
    const discordStats = discord.slash('stats', {}, MEMBERS.bo);
    expect((await discord.waitForWebhook(discordStats)).body.embeds[0].title).toMatch(/^Stats/);

    bot.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(slack.connectedSockets).toBe(0);
    expect(stderr).toMatch(/slack channel started: Slack, Socket Mode/);
    expect(stderr).not.toMatch(/Error|at .*\.ts:\d+/);
  }, 150_000);
});
