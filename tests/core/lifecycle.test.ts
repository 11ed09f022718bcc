/**
 * Issue 5 integrated into the review loop, through the command layer on a real database
 * (PGlite, and PostgreSQL when CONFAB_TEST_PG_URL is set): the close policy (posterior and
 * cap), the review queue's order and soft locks, decoys, the stored signals, the /stats label
 * lines, the reviewer role, the settings, and /dataset. Each test uses its own workspace so
 * that queue orders do not depend on the other tests.
 */
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, eq, sql } from 'drizzle-orm';
import { queryRows } from '../../db';
import { channels, explanations, explanationStateChanges, saeFeatures, workspaces } from '../../db/schema';
import { createServices, type Services } from '../../src/core/app';
import { featureOverlap } from '../../src/core/labels/signals';
import { createJudge } from '../../src/inference/judge';
import { loadAnalysisView } from '../../src/core/views';
import type { FileView, ReviewItemView, SettingsView, StatsView, VoteAckView } from '../../src/core/view';
import { createTestDatabase, STORAGE_KINDS, testConfig, type TestDatabase } from '../db/support';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai/server';
import { FixtureWorker } from './fixture-worker';
import { actor, explainAndWait, explanationIds, run, runError } from './helpers';
import { silentLogger } from '../../src/log';

/** The key structure of a value (names and nesting, not contents): what a view's shape reveals. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(shape);
  if (value && typeof value === 'object') return Object.fromEntries(Object.keys(value).sort().map((k) => [k, shape((value as Record<string, unknown>)[k])]));
  return typeof value;
}

for (const { kind, skip } of STORAGE_KINDS) {
  describe.skipIf(skip)(`labels in the review loop on ${kind}`, () => {
    let database: TestDatabase;
    let services: Services;
    let dataDir: string;
    const worker = new FixtureWorker();

    beforeAll(async () => {
      database = await createTestDatabase(kind);
      dataDir = mkdtempSync(path.join(tmpdir(), 'confab-lifecycle-'));
      const config = testConfig(database.target, { CONFAB_RATE_LIMIT_PER_MINUTE: '1000', CONFAB_DECOY_RATE: '0', CONFAB_DATA_DIR: dataDir });
      services = await createServices(config, { backend: worker, pollMs: 200, logger: silentLogger });
    });
    afterAll(async () => {
      await services?.close();
      await database?.drop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });

    it('keeps a split item open, offers it first, and closes it at the cap of 2·3 + 1 votes', async () => {
      const ws = { workspaceId: `contested-${kind}` };
      const contested = await explainAndWait(services, actor('alice', ws), { prompt: 'Contested item?' });
      const [id] = explanationIds(contested);
      const fresh = await explainAndWait(services, actor('alice', ws), { prompt: 'Fresh item!' });
      const [freshId] = explanationIds(fresh);
      const vote = async (who: string, label: string) =>
        (await run(services, actor(who, ws), 'vote', { explanation: id, label })).view as VoteAckView;

      await vote('v1', 'faithful');
      await vote('v2', 'confabulated');
      // 2–1 at the votes to close: P(faithful share > 1/2) = 0.69 < 0.8, so it stays open.
      expect(await vote('v3', 'faithful')).toMatchObject({ state: 'open', closedNow: false });

      // Offered before an item with no votes at all: one or two votes settle it.
      const offered = (await run(services, actor('newcomer', ws), 'review')).view as ReviewItemView;
      expect(offered.explanation.explanationId).toBe(id);
      expect(offered.explanation.explanationId).not.toBe(freshId);

      expect(await vote('v4', 'confabulated')).toMatchObject({ state: 'open' }); // 2–2
      expect(await vote('v5', 'faithful')).toMatchObject({ state: 'open' }); // 3–2: 0.66
      expect(await vote('v6', 'confabulated')).toMatchObject({ state: 'open' }); // 3–3
      // 4–3 is the seventh decisive vote: the cap closes it, with the majority as outcome.
      expect(await vote('v7', 'faithful')).toMatchObject({ state: 'closed', closedNow: true, closedReason: 'max_votes', outcome: 'faithful' });
      const changes = await services.database.db.select().from(explanationStateChanges).where(eq(explanationStateChanges.explanationId, id));
      expect(changes.map((c) => [c.state, c.reason, c.faithfulVotes, c.confabulatedVotes, c.changedBy])).toEqual([['closed', 'max_votes', 4, 3, null]]);

      // Unanimous votes close at three (3–0: 0.94).
      for (const who of ['u1', 'u2']) await run(services, actor(who, ws), 'vote', { explanation: freshId, label: 'confabulated' });
      expect(((await run(services, actor('u3', ws), 'vote', { explanation: freshId, label: 'confabulated' })).view as VoteAckView)).toMatchObject({
        closedNow: true,
        closedReason: 'votes',
        outcome: 'confabulated',
      });
    });

    it('gives two reviewers working at once different items (soft lock), and orders by uncertainty among equals', async () => {
      const ws = { workspaceId: `locks-${kind}` };
      const view = await explainAndWait(services, actor('alice', ws), { prompt: 'Two samples here', samples: 3 });
      const [a, b, c] = explanationIds(view);
      // a: 1–0 faithful; b: 0–1 ... both one decisive vote; c none. The queue: c first (fewest votes).
      await run(services, actor('seed1', ws), 'vote', { explanation: a, label: 'faithful' });
      await run(services, actor('seed1', ws), 'vote', { explanation: b, label: 'confabulated' });
      const first = (await run(services, actor('r1', ws), 'review')).view as ReviewItemView;
      expect(first.explanation.explanationId).toBe(c);
      // r1 holds c, so r2 is sent elsewhere; asking again, r1 keeps c.
      const second = (await run(services, actor('r2', ws), 'review')).view as ReviewItemView;
      expect(second.explanation.explanationId).not.toBe(c);
      expect([a, b]).toContain(second.explanation.explanationId);
      expect(((await run(services, actor('r1', ws), 'review')).view as ReviewItemView).explanation.explanationId).toBe(c);
      // With one open item left for a reviewer, the lock does not hide it: it is shared.
      await run(services, actor('r3', ws), 'vote', { explanation: a, label: 'unsure' });
      await run(services, actor('r3', ws), 'vote', { explanation: b, label: 'unsure' });
      expect(((await run(services, actor('r3', ws), 'review')).view as ReviewItemView).explanation.explanationId).toBe(c);

      // The lock lives in the database: another bot process on the same database respects it.
      if (kind === 'postgres') {
        const other = await createServices(services.config, { backend: null, logger: silentLogger });
        try {
          const there = (await run(other, actor('r4', ws), 'review')).view as ReviewItemView;
          expect(there.explanation.explanationId).not.toBe(c);
        } finally {
          await other.close();
        }
      }
      // An expired lock is taken over.
      await services.database.db.execute(sql`update review_locks set until = now() - interval '1 second' where explanation_id = ${c}`);
      expect(((await run(services, actor('r5', ws), 'review')).view as ReviewItemView).explanation.explanationId).toBe(c);
      const locks = await queryRows<{ user_id: string }>(
        services.database.db,
        sql`select r.user_id from review_locks l join reviewers r on r.id = l.reviewer_id where l.explanation_id = ${c}`,
      );
      expect(locks).toEqual([{ user_id: 'r5' }]);
    });

    it('serves decoys that look like any item, keeps them out of labels and counts, and measures reviewers with them', async () => {
      const ws = { workspaceId: `decoys-${kind}` };
      const admin = actor('ada', { ...ws, isAdmin: true });
      const source = await explainAndWait(services, actor('alice', ws), { prompt: 'Paris is in France' });
      const target = await explainAndWait(services, actor('alice', ws), { prompt: 'The moon orbits us' });
      const [sourceId] = explanationIds(source);
      const [targetId] = explanationIds(target);

      // A real item first (rate 0), to compare shapes with.
      const real = (await run(services, actor('shape', ws), 'review')).view as ReviewItemView;
      expect(real.kind).toBe('review-item');

      expect(((await run(services, admin, 'settings', { decoy_rate: 1 })).view as SettingsView).settings.decoy_rate).toBe(1);
      const served = (await run(services, actor('rita', ws), 'review')).view as ReviewItemView;
      expect(served.kind).toBe('review-item');
      const shownOn = served.analysis.analysisId;
      const other = shownOn === source.analysisId ? target : source;
      // The text is the other prompt's explanation, shown on this analysis's position, in its place.
      expect(served.explanation.text).toBe(other.positions[0].explanations[0].text);
      expect(served.explanation.number).toBe(1);
      expect(served.position.explanations).toEqual([served.explanation]);
      expect(served.analysis.positions[0].explanations).toEqual([served.explanation]);
      expect(shape(served)).toEqual(shape(real));
      const [row] = await services.database.db.select().from(explanations).where(eq(explanations.id, served.explanation.explanationId));
      expect(row).toMatchObject({ source: 'decoy', analysisId: shownOn, decoyOfExplanationId: shownOn === source.analysisId ? targetId : sourceId });
      // Its AR scores are the borrowed ones: a decoy without them would stand out.
      expect(served.explanation.ar).toEqual(other.positions[0].explanations[0].ar);
      // The requester saw the real explanation when it was posted: never a decoy on their own analysis.
      const own = (await run(services, actor('alice', ws), 'review')).view as ReviewItemView;
      expect([sourceId, targetId]).toContain(own.explanation.explanationId);

      // Nobody else sees it: not on the public message, not in anyone's queue.
      const publicView = await loadAnalysisView(services.database.db, shownOn, null);
      expect(publicView.positions[0].explanations.map((e) => e.explanationId)).toEqual([shownOn === source.analysisId ? sourceId : targetId]);

      const ack = (await run(services, actor('rita', ws), 'vote', { explanation: served.explanation.explanationId, label: 'confabulated' })).view as VoteAckView;
      expect(ack).toMatchObject({ kind: 'vote-ack', change: 'recorded' });
      await run(services, admin, 'settings', { decoy_rate: 0 });
      for (const who of ['x1', 'x2', 'x3']) await run(services, actor(who, ws), 'vote', { explanation: sourceId, label: 'faithful' });

      const stats = (await run(services, actor('alice', ws), 'stats')).view as StatsView;
      expect(stats).toMatchObject({ explanations: 2, closedItems: 1, openItems: 1 });
      expect(stats.extra.find((l) => l.label === 'Decoys caught')?.value).toMatch(/^100% of 1 votes \(95% CI \d+–100%\)$/);

      // The dataset holds the two real explanations only.
      const file = (await run(services, admin, 'dataset')).view as FileView;
      expect(file).toMatchObject({ kind: 'file', filename: 'confab-dataset.jsonl', contentType: 'application/x-ndjson' });
      expect(file.path.startsWith(path.join(dataDir, 'exports'))).toBe(true);
      const rows = readFileSync(file.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { explanation_id: number; source: string; votes: string[] });
      expect(rows.map((r) => r.explanation_id).sort((x, y) => x - y)).toEqual([sourceId, targetId].sort((x, y) => x - y));
      expect(rows.every((r) => r.source === 'nla')).toBe(true);
      expect(file.bytes).toBe(readFileSync(file.path).length);
      expect(file.summary[0]).toMatch(/^2 explanations, 3 votes, 3 reviewers/);
    });

    it('takes a channel\'s own decoy rate over the workspace\'s', async () => {
      const ws = { workspaceId: `channel-rate-${kind}`, channelId: 'decoy-room' };
      await explainAndWait(services, actor('alice', ws), { prompt: 'First prompt a' });
      await explainAndWait(services, actor('alice', ws), { prompt: 'Second prompt b' });
      const admin = actor('ada', { ...ws, isAdmin: true });
      expect((await runError(services, admin, 'settings', { channel_decoy_rate: '1.5' })).message).toBe(
        'channel_decoy_rate must be a number from 0 to 1, or "none" to follow the workspace\'s rate; got "1.5".',
      );
      const set = (await run(services, admin, 'settings', { channel_decoy_rate: '1' })).view as SettingsView;
      expect(set).toMatchObject({ changed: ['channel_decoy_rate'], settings: { channel_decoy_rate: 1, decoy_rate: 0 } });
      const served = (await run(services, actor('rita', ws), 'review')).view as ReviewItemView;
      const [row] = await services.database.db.select().from(explanations).where(eq(explanations.id, served.explanation.explanationId));
      expect(row.source).toBe('decoy');
      // Another channel of the workspace uses the workspace's rate (0 in this suite).
      const elsewhere = (await run(services, actor('rita', { ...ws, channelId: 'main' }), 'review')).view as ReviewItemView;
      const [row2] = await services.database.db.select().from(explanations).where(eq(explanations.id, elsewhere.explanation.explanationId));
      expect(row2.source).toBe('nla');
      // "none" returns the channel to the workspace's rate, keeping its other settings.
      const [workspace] = await services.database.db.select().from(workspaces).where(eq(workspaces.externalId, ws.workspaceId));
      const room = and(eq(channels.workspaceId, workspace.id), eq(channels.externalId, 'decoy-room'));
      await services.database.db.update(channels).set({ settings: sql`${channels.settings} || '{"digest_hour": 9}'::jsonb` }).where(room);
      const cleared = (await run(services, admin, 'settings', { channel_decoy_rate: 'none' })).view as SettingsView;
      expect(cleared.settings.channel_decoy_rate).toBeNull();
      const [stored] = await services.database.db.select({ settings: channels.settings }).from(channels).where(room);
      expect(stored.settings).toEqual({ digest_hour: 9 });
    });

    it('stores the feature-label overlap with each explanation, with the result', async () => {
      const view = await explainAndWait(services, actor('alice', { workspaceId: `signals-${kind}` }), { prompt: 'Signals stored', samples: 2 });
      const rows = await services.database.db.select().from(explanations).where(eq(explanations.analysisId, view.analysisId));
      expect(rows).toHaveLength(2);
      for (const row of rows) {
        const features = await services.database.db
          .select({ index: saeFeatures.featureIndex, activation: saeFeatures.activation, label: saeFeatures.label })
          .from(saeFeatures)
          .where(eq(saeFeatures.positionId, row.positionId));
        const expected = featureOverlap(row.text, features);
        expect(row.signals).toEqual({ feature_overlap: { score: expected.score, matched: expected.matched, content_words: expected.contentWords } });
        expect(expected.contentWords).toBeGreaterThan(0);
        expect(row.arFveNrm).toBeTypeOf('number');
      }
    });

    it('stores settings of every type, refusing bad values with what is allowed', async () => {
      const admin = actor('ada', { workspaceId: `settings-${kind}`, isAdmin: true });
      const set = (await run(services, admin, 'settings', { decoy_rate: '0.25', reviewer_role: '<@&1234567890123456789>', digest_channel: '<#77>', digest_schedule: 'Weekly' }))
        .view as SettingsView;
      expect(set.settings).toMatchObject({ decoy_rate: 0.25, reviewer_role: '1234567890123456789', digest_channel: '77', digest_schedule: 'weekly' });
      expect(set.changed).toEqual(['decoy_rate', 'reviewer_role', 'digest_channel', 'digest_schedule']);
      expect((await runError(services, admin, 'settings', { decoy_rate: 1.5 })).message).toBe('Decoy rate must be from 0 to 1 for /settings; got 1.5.');
      expect((await runError(services, admin, 'settings', { digest_schedule: 'hourly' })).message).toBe(
        'Digest schedule must be one of off, daily, weekly; got "hourly".',
      );
      expect((await runError(services, admin, 'settings', { reviewer_role: 'two words' })).code).toBe('invalid_setting');
      const cleared = (await run(services, admin, 'settings', { reviewer_role: 'none', digest_channel: 'none' })).view as SettingsView;
      expect(cleared.settings).toMatchObject({ reviewer_role: null, digest_channel: null, decoy_rate: 0.25 });
    });

    it('lets only holders of the reviewer role vote and review once a role is set, and admins always', async () => {
      const ws = { workspaceId: `role-${kind}` };
      const admin = actor('ada', { ...ws, isAdmin: true });
      const view = await explainAndWait(services, actor('alice', ws), { prompt: 'Role gated' });
      const [id] = explanationIds(view);
      expect(((await run(services, actor('anyone', ws), 'vote', { explanation: id, label: 'unsure' })).view as VoteAckView).kind).toBe('vote-ack');
      await run(services, admin, 'settings', { reviewer_role: '555' });
      const refused = await runError(services, actor('outsider', { ...ws, roles: ['111'] }), 'vote', { explanation: id, label: 'faithful' });
      expect(refused.code).toBe('reviewer_role_required');
      expect((await runError(services, actor('outsider', ws), 'review')).code).toBe('reviewer_role_required');
      expect(((await run(services, actor('member', { ...ws, roles: ['111', '555'] }), 'vote', { explanation: id, label: 'faithful' })).view as VoteAckView).kind).toBe(
        'vote-ack',
      );
      expect(((await run(services, admin, 'vote', { explanation: id, label: 'faithful' })).view as VoteAckView).kind).toBe('vote-ack');
      // /dataset: the role holder may export; someone without it may not.
      expect(((await run(services, actor('member', { ...ws, roles: ['555'] }), 'dataset', { format: 'parquet' })).view as FileView)).toMatchObject({
        kind: 'file',
        filename: 'confab-dataset.parquet',
      });
      expect((await runError(services, actor('outsider', ws), 'dataset')).code).toBe('admin_only');
      // Commands outside the review loop are not gated.
      expect((await run(services, actor('outsider', ws), 'stats')).view.kind).toBe('stats');
    });
  });
}

for (const { kind, skip } of STORAGE_KINDS) {
  describe.skipIf(skip)(`the optional LLM judge on ${kind}`, () => {
    let database: TestDatabase;
    let services: Services;
    let fake: FakeOpenAI;
    const worker = new FixtureWorker();

    beforeAll(async () => {
      database = await createTestDatabase(kind);
      fake = await startFakeOpenAI();
      const config = testConfig(database.target, { CONFAB_JUDGE_MODEL: 'judge-1', OPENAI_BASE_URL: fake.baseUrl, OPENAI_API_KEY: 'sk-test' });
      services = await createServices(config, { backend: worker, pollMs: 200, judge: createJudge(config.judge), logger: silentLogger });
    });
    afterAll(async () => {
      await services?.close();
      await fake?.close();
      await database?.drop();
    });

    async function signalsOf(analysisId: number, timeoutMs = 10_000): Promise<Array<Record<string, unknown>>> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const rows = await services.database.db.select().from(explanations).where(eq(explanations.analysisId, analysisId)).orderBy(explanations.id);
        if (rows.every((r) => 'judge' in r.signals) || Date.now() > deadline) return rows.map((r) => r.signals);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }

    it('judges each explanation after the result is stored, without delaying it, and records malformed answers', async () => {
      // The first answer is slow: the result must still arrive before it.
      fake.script({ content: '{"verdict": "confabulated", "confidence": 0.9}', delayMs: 1500 }, { content: 'I think it is fine.' });
      const started = Date.now();
      const view = await explainAndWait(services, actor('alice'), { prompt: 'Judge me', samples: 2 });
      expect(Date.now() - started).toBeLessThan(1500);
      const signals = await signalsOf(view.analysisId);
      expect(signals[0].judge).toEqual({ score: expect.closeTo(0.1, 10), verdict: 'confabulated', confidence: 0.9, model: 'judge-1' });
      expect(signals[1].judge).toEqual({ error: 'malformed', model: 'judge-1' });
      // The overlap stored with the result is kept beside the judge's entry.
      expect(signals[0].feature_overlap).toBeDefined();
      expect(fake.requests).toHaveLength(2);
      expect(fake.requests[0].body.model).toBe('judge-1');
      expect(fake.requests[0].body.messages[1].content).toContain('Judge me');

      const stats = (await run(services, actor('alice'), 'stats')).view as StatsView;
      expect(stats.extra.find((l) => l.label === 'AUROC, LLM judge')?.value).toBe('n/a (no labelled item has this signal)');
    });
  });
}
