/**
 * The scheduled digest on Slack, end to end: a real Bolt App against the local Slack fake, the
 * real core on PGlite. The figures go to the configured channel as blocks, within Slack's limits
 * and pinging nobody; the chart follows through files.uploadV2's three calls.
 */
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explanations, settings } from '../../../db/schema';
import { loadDigest } from '../../../src/core/digest/content';
import { parseIsoWeek } from '../../../src/core/digest/period';
import type { DigestEvent } from '../../../src/core/services';
import { digestMessage } from '../../../src/platforms/slack/digest';
import { seedDigestHistory, type DigestSeed } from '../../digest/seed';
import type { ApiCall } from '../../fakes/slack/server';
import { blockText, startHarness, type Harness } from './harness';

const MONTH_AGO = new Date(Date.now() - 30 * 86_400_000);
const HOSTILE = '<!channel> <@U123> <!here> <!everyone> *bold* <https://evil.example|click> & <#C999>';
const headerOf = (blocks: any[]) => blocks.find((b) => b.type === 'header')?.text.text as string;
const isDigest = (c: ApiCall) => c.method === 'chat.postMessage' && /^Digest · /.test(headerOf(c.args.blocks ?? []) ?? '');

describe('digest on Slack (local fake, HTTP mode)', () => {
  let h: Harness;
  let seed: DigestSeed;
  const eventFor = async (week: string, late = false): Promise<DigestEvent> => ({
    platform: 'slack',
    workspaceId: h.fake.teamId,
    channelId: h.fake.channelId,
    digest: await loadDigest(h.services.database.db, seed.workspaceId, parseIsoWeek(week, 'UTC')),
    scheduledFor: new Date(),
    late,
  });

  beforeAll(async () => {
    h = await startHarness({ backend: null, mode: 'http' });
    const db = h.services.database.db;
    seed = await seedDigestHistory(db, h.fake.teamId, h.fake.channelId, 'slack');
    // Model output is untrusted text: it must neither ping nor link, and a long one is cut.
    await db.update(explanations).set({ text: `${HOSTILE} ${'long '.repeat(400)}` }).where(eq(explanations.id, seed.ids.E3));
    await db.insert(settings).values([
      { workspaceId: seed.workspaceId, key: 'digest_channel', value: `channel:${h.fake.channelId}`, updatedAt: MONTH_AGO },
      { workspaceId: seed.workspaceId, key: 'digest_schedule', value: 'weekly', updatedAt: MONTH_AGO },
    ]);
  }, 180_000);
  afterAll(async () => {
    await h?.close();
  });

  it('a scheduled fire posts the blocks to the configured channel, then uploads the chart PNG there', async () => {
    // The scheduler may also wake on its own; whichever run claims the fire posts it, once.
    await h.services.digests.runOnce();
    const posted = await h.fake.waitFor(isDigest, 60_000);
    expect(posted.error).toBeUndefined();
    expect(posted.args.channel).toBe(h.fake.channelId);
    expect(headerOf(posted.args.blocks)).toMatch(/^Digest · \d{4}-W\d{2}$/);
    expect(blockText(posted.args.blocks)).toContain('Posted late');
    const complete = await h.fake.waitFor((c) => c.method === 'files.completeUploadExternal', 60_000);
    expect(complete.error).toBeUndefined();
    expect(complete.args.channel_id).toBe(h.fake.channelId);
    const steps = h.fake.calls.filter((c) => ['files.getUploadURLExternal', 'upload', 'files.completeUploadExternal'].includes(c.method));
    expect(steps.map((c) => c.method)).toEqual(['files.getUploadURLExternal', 'upload', 'files.completeUploadExternal']);
    expect(steps[0].args.filename).toMatch(/^digest-\d{4}-W\d{2}\.png$/);
    expect(steps[1].args.bytes).toBeGreaterThan(5_000);
    expect(steps[1].args.bytes).toBe(Number(steps[0].args.length));
    expect(h.fake.calls.filter(isDigest)).toHaveLength(1);
  }, 180_000);

  it("renders the seeded week's figures, the contested items escaped and cut, nobody pinged", async () => {
    const message = digestMessage((await eventFor('2026-W48')).digest, false);
    expect(headerOf(message.blocks)).toBe('Digest · 2026-W48');
    const text = blockText(message.blocks);
    expect(text).toContain('*Votes:* 16');
    expect(text).toContain('*Active reviewers:* 4');
    expect(text).toContain('*Confabulation rate:* 33.3% (95% CI 6.1%–79.2%, n = 3)');
    expect(text).toContain("*Agreement (Krippendorff's alpha):* 0.33 over 4 items");
    expect(text).toContain('*Decoys:* 2 of 3 votes caught the decoy (67%)');
    const contested = message.blocks.find((b) => b.block_id === 'contested')!;
    const contestedText = (contested.text as { text: string; verbatim: boolean }).text;
    expect((contested.text as { verbatim: boolean }).verbatim).toBe(true);
    expect(contestedText).toContain(`*#${seed.ids.E3}*`);
    expect(contestedText).toContain(`<#${h.fake.channelId}>`);
    expect(contestedText).toContain('&lt;!channel&gt; &lt;@U123&gt; &lt;!here&gt;');
    expect(contestedText).toContain('…');
    expect(text).not.toMatch(/<!(channel|here|everyone)>|<@U|<#C999|<https?:/);
    expect(message.blocks.length).toBeLessThanOrEqual(50);

    // A channel or message reference that is not a Slack id is shown as text, never as a mention.
    const digest = (await eventFor('2026-W48')).digest;
    digest.contested[0] = { ...digest.contested[0], channel: '<!here>', messageRef: '<@U0ANA>' };
    const odd = (digestMessage(digest, false).blocks.find((b) => b.block_id === 'contested')!.text as { text: string }).text;
    const first = odd.split('\n')[1];
    expect(first).toContain('in &lt;!here&gt; (message &lt;@U0ANA&gt;)');
    expect(first).not.toMatch(/<!here>|<@U0ANA>|<#/);
  });

  it('posts the same blocks through the channel, and the fake accepts them within every limit', async () => {
    const from = h.fake.calls.length;
    expect(await h.services.hub.digests.deliver(await eventFor('2026-W48'))).toBe(true);
    const posted = await h.fake.waitFor(isDigest, 30_000, from);
    expect(posted.error).toBeUndefined();
    expect(posted.refusal).toBeUndefined();
    expect(posted.args.link_names).toBeUndefined();
    expect(posted.args.parse).toBeUndefined();
    expect(blockText(posted.args.blocks)).not.toMatch(/<!(channel|here|everyone)>|<@U|<#C999|<https?:/);
    await h.fake.waitFor((c) => c.method === 'files.completeUploadExternal', 30_000, from);
  }, 120_000);

  it("an empty week's digest is short: nothing was reviewed, and the dataset size", async () => {
    const from = h.fake.calls.length;
    expect(await h.services.hub.digests.deliver(await eventFor('2020-W10', true))).toBe(true);
    const posted = await h.fake.waitFor(isDigest, 30_000, from);
    expect(headerOf(posted.args.blocks)).toBe('Digest · 2020-W10');
    const text = blockText(posted.args.blocks);
    expect(text).toContain('Nothing was reviewed in 2020-W10: no analyses, no votes, no items closed.');
    expect(text).toContain('Posted late');
    expect(text).toMatch(/\*Dataset:\* [\d,]+ rows/);
    expect(text).not.toContain('Most contested');
    expect(posted.args.blocks.length).toBeLessThanOrEqual(4);
  }, 120_000);

  it('a failed chart upload still posts the figures, and the log says why', async () => {
    h.fake.maxUploadBytes = 1;
    try {
      const from = h.fake.calls.length;
      const warned = h.warnings.length;
      expect(await h.services.hub.digests.deliver(await eventFor('2026-W48'))).toBe(true);
      const posted = await h.fake.waitFor(isDigest, 30_000, from);
      expect(posted.error).toBeUndefined();
      const refused = h.fake.calls.slice(from).find((c) => c.method === 'files.getUploadURLExternal')!;
      expect(refused.result).toMatchObject({ ok: false, error: 'file_too_large' });
      expect(h.fake.calls.slice(from).some((c) => c.method === 'files.completeUploadExternal')).toBe(false);
      expect(h.warnings.slice(warned)).toEqual([expect.stringMatching(/the digest 2026-W48 was posted in C0REVIEW, but its chart digest-2026-W48\.png was not uploaded: file_too_large/)]);
    } finally {
      h.fake.maxUploadBytes = 1024 * 1024 * 1024;
    }
  }, 120_000);

  it('nothing Confab sent was refused by the fake, and nothing was logged as an error', () => {
    expect(h.fake.calls.filter((c) => c.refusal).map((c) => c.method)).toEqual([]);
    expect(h.errors).toEqual([]);
  });
});
