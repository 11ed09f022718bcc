/**
 * The scheduled digest delivered end to end: on Discord through a real discord.js client and the
 * local Discord-compatible server (an embed, the PNG attachment, no mentions, within limits),
 * and in a terminal session (its text, the chart saved under CONFAB_DATA_DIR/digests/).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allCommands } from '../../commands';
import { explanations, settings, workspaces } from '../../db/schema';
import { createServices, type Services } from '../../src/core/app';
import { invokeCommand } from '../../commands/invoke';
import { silentLogger } from '../../src/log';
import { startTerminalSession } from '../../src/platforms/terminal/session';
import { startHarness, type Harness } from '../platforms/discord/harness';
import { expectWithinDiscordLimits, HOSTILE_TEXT } from '../platforms/discord/limits';
import { createTestDatabase, testConfig, type TestDatabase } from '../db/support';
import { seedDigestHistory, type DigestSeed } from './seed';

const MONTH_AGO = new Date(Date.now() - 30 * 86_400_000);

describe('digest on Discord (local fake)', () => {
  let h: Harness;
  let seed: DigestSeed;
  beforeAll(async () => {
    h = await startHarness({ backend: null });
    const db = h.services.database.db;
    seed = await seedDigestHistory(db, h.fake.guildId, h.fake.channelId);
    // Model output is untrusted text: it must neither ping nor break the markup.
    await db.update(explanations).set({ text: `@everyone ${HOSTILE_TEXT} ${'long '.repeat(400)}` }).where(eq(explanations.id, seed.ids.E3));
    await db.insert(settings).values([
      { workspaceId: seed.workspaceId, key: 'digest_channel', value: `channel:${h.fake.channelId}`, updatedAt: MONTH_AGO },
      { workspaceId: seed.workspaceId, key: 'digest_schedule', value: 'weekly', updatedAt: MONTH_AGO },
    ]);
  }, 180_000);
  afterAll(async () => {
    await h?.close();
  });

  it('posts an embed with the figures and the chart attached as a PNG, pinging nobody', async () => {
    const { outcomes } = await h.services.digests.runOnce();
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]).toMatchObject({ posted: true, late: true, channel: h.fake.channelId });
    const post = await h.fake.waitForRequest((r) => r.method === 'POST' && r.path === `/channels/${h.fake.channelId}/messages`);
    expect(post.files).toHaveLength(1);
    expect(post.files[0]).toMatchObject({ contentType: 'image/png' });
    expect(post.files[0].filename).toMatch(/^digest-\d{4}-W\d{2}\.png$/);
    expect(post.files[0].size).toBeGreaterThan(5_000);
    const embed = post.body.embeds[0];
    expect(embed.title).toMatch(/^Digest · \d{4}-W\d{2}$/);
    expect(embed.image.url).toBe(`attachment://${post.files[0].filename}`);
    expect(embed.description).toContain('Posted late');
    expect(post.body.allowed_mentions).toEqual({ parse: [] });
    expectWithinDiscordLimits(post.body);
    const stored = h.fake.channelMessages().find((m) => m.attachments.length > 0)!;
    expect(stored.attachments[0].filename).toBe(post.files[0].filename);
  }, 180_000);

  it('renders the seeded week with every figure, escaped and truncated within the limits', async () => {
    const { digestMessage } = await import('../../src/platforms/discord/digest');
    const { loadDigest } = await import('../../src/core/digest/content');
    const { parseIsoWeek } = await import('../../src/core/digest/period');
    const digest = await loadDigest(h.services.database.db, seed.workspaceId, parseIsoWeek('2026-W48', 'UTC'));
    const message = await digestMessage(digest, false);
    const embed = message.embeds[0];
    const value = (name: string) => embed.fields!.find((f) => f.name === name)!.value;
    expect(embed.title).toBe('Digest · 2026-W48');
    expect(value('Votes')).toBe('16');
    expect(value('Active reviewers')).toBe('4');
    expect(value('Confabulation rate')).toBe('33.3% (95% CI 6.1%–79.2%, n = 3)');
    expect(value("Agreement (Krippendorff's alpha)")).toBe('0.33 over 4 items');
    expect(value('Decoys')).toBe('2 of 3 votes caught the decoy (67%)');
    expect(value('Most contested')).toContain(`**#${seed.ids.E3}**`);
    expect(value('Most contested')).toContain(`<#${h.fake.channelId}>`);
    expect(value('Most contested')).toContain('@\u200beveryone');
    expect(value('Most contested')).not.toMatch(/(^|[^\\])@everyone/);
    expect(value('Most contested')).toContain('…');
    expect(message.allowedMentions).toEqual({ parse: [] });
    expectWithinDiscordLimits({ embeds: message.embeds, content: message.content, allowedMentions: message.allowedMentions });
  }, 180_000);
});

describe('digest in the terminal', () => {
  let testDb: TestDatabase;
  let services: Services;
  let dataDir: string;
  beforeAll(async () => {
    testDb = await createTestDatabase('pglite');
    dataDir = mkdtempSync(path.join(tmpdir(), 'confab-digest-term-'));
    services = await createServices({ ...testConfig(testDb.target), dataDir }, { logger: silentLogger });
  }, 180_000);
  afterAll(async () => {
    await services?.close();
    await testDb?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints the digest, first line "Digest · <week>", and saves the chart under the data directory', async () => {
    const output = new PassThrough();
    let printed = '';
    output.on('data', (d) => (printed += d));
    const input = new PassThrough();
    const session = startTerminalSession({
      services,
      commands: allCommands,
      invoke: invokeCommand,
      input,
      output,
      reviewer: 'ada',
      isAdmin: true,
      interactive: false,
      color: false,
      logger: silentLogger,
    });
    // The admin sets the digest up from the terminal: a bad schedule is refused with what is allowed.
    const admin = { platform: 'terminal' as const, workspaceId: 'local', channelId: 'terminal', userId: 'ada', displayName: 'ada', isAdmin: true };
    const refused = await invokeCommand(services, admin, 'settings', { digest_schedule: '* * *' });
    expect(refused.view).toMatchObject({ kind: 'error', code: 'invalid_setting' });
    const badZone = await invokeCommand(services, admin, 'settings', { digest_time_zone: 'Mars/Olympus' });
    expect(badZone.view).toMatchObject({ kind: 'error', code: 'invalid_setting' });
    const set = await invokeCommand(services, admin, 'settings', { digest_channel: 'terminal', digest_schedule: 'daily', digest_time_zone: 'Europe/Madrid' });
    expect(set.view).toMatchObject({ kind: 'settings', settings: { digest_channel: 'terminal', digest_schedule: 'daily', digest_time_zone: 'Europe/Madrid' } });
    const [local] = await services.database.db.select().from(workspaces).where(eq(workspaces.externalId, 'local'));
    await services.database.db.update(settings).set({ updatedAt: MONTH_AGO }).where(eq(settings.workspaceId, local.id));

    const { outcomes } = await services.digests.runOnce();
    expect(outcomes).toMatchObject([{ posted: true, late: true, channel: 'terminal' }]);
    const block = printed.trim().split('\n\n').find((b) => b.startsWith('Digest · '))!;
    const lines = block.split('\n');
    expect(lines[0]).toMatch(/^Digest · \d{4}-\d{2}-\d{2}$/);
    expect(lines).toContain('(posted late: Confab was not running at the scheduled time)');
    expect(block).toContain('Nothing was reviewed in');
    const chart = lines.find((l) => l.startsWith('Chart: '))!.slice('Chart: '.length);
    expect(chart.startsWith(path.join(dataDir, 'digests'))).toBe(true);
    expect(existsSync(chart)).toBe(true);
    expect(readFileSync(chart).subarray(1, 4).toString()).toBe('PNG');
    input.end();
    await session.finished;
  }, 180_000);

  it('/digest previews a week privately and refuses a bad one', async () => {
    const ada = { platform: 'terminal' as const, workspaceId: 'local', channelId: 'terminal', userId: 'ada', displayName: 'ada', isAdmin: false };
    const preview = await invokeCommand(services, ada, 'digest', { week: '2026-W48' });
    expect(preview.ephemeral).toBe(true);
    expect(preview.view).toMatchObject({ kind: 'message', title: 'Digest · 2026-W48' });
    const current = await invokeCommand(services, ada, 'digest', {});
    expect(current.view).toMatchObject({ kind: 'message', title: expect.stringMatching(/^Digest · \d{4}-W\d{2}$/) });
    expect((await invokeCommand(services, ada, 'digest', { week: '2026-W60' })).view).toMatchObject({ kind: 'error', code: 'invalid_week' });
    expect((await invokeCommand(services, ada, 'digest', { week: 'last week' })).view).toMatchObject({
      kind: 'error',
      message: 'The week must be an ISO week such as 2026-W48 (year, "-W", two-digit week); got "last week".',
    });
    expect((await invokeCommand(services, ada, 'digest', { week: '2026-W48-and-more' })).view).toMatchObject({ kind: 'error', code: 'too_long' });
    expect((await invokeCommand(services, ada, 'digest', { week: 12 })).view).toMatchObject({ kind: 'error', code: 'invalid_week' });
  }, 180_000);
});
