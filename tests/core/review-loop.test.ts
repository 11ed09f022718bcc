/**
 * The review loop through the command layer, on a real database (PGlite, and PostgreSQL when
 * CONFAB_TEST_PG_URL is set): explain, vote, review, stats, feature, settings, close/reopen,
 * and every bad input the issue lists.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, eq, sql } from 'drizzle-orm';
import { queryRows } from '../../db';
import { activations, analyses, explanationStateChanges, positions, voteHistory, votes } from '../../db/schema';
import { createLogger } from '../../src/log';
import { createServices, type Services } from '../../src/core/app';
import type { ReviewItemView, SettingsView, StatsView, VoteAckView, FeatureCardView, AnalysisView } from '../../src/core/view';
import { decodeActivation } from '../../src/protocol/analyze';
import { createTestDatabase, STORAGE_KINDS, testConfig, type TestDatabase } from '../db/support';
import { FixtureWorker } from './fixture-worker';
import { actor, explainAndWait, explanationIds, run, runError } from './helpers';

for (const { kind, skip } of STORAGE_KINDS) {
  describe.skipIf(skip)(`review loop on ${kind}`, () => {
    let database: TestDatabase;
    let services: Services;
    const worker = new FixtureWorker();
    const admin = actor('ada', { isAdmin: true });

    beforeAll(async () => {
      database = await createTestDatabase(kind);
      // Decoys are random; this suite checks the queue's order, so it serves none
      // (tests/core/lifecycle.test.ts covers decoys).
      services = await createServices(testConfig(database.target, { CONFAB_RATE_LIMIT_PER_MINUTE: '100', CONFAB_DECOY_RATE: '0' }), { backend: worker, pollMs: 200, logger: createLogger({ level: 'error' }) });
    });
    afterAll(async () => {
      await services?.close();
      await database?.drop();
    });

    it('explains a prompt and stores tokens, features, explanations and the activation', async () => {
      const pending = await run(services, actor('alice'), 'explain', { prompt: 'The cat sat', samples: 2 });
      expect(pending.view).toMatchObject({ kind: 'analysis', status: 'queued', prompt: 'The cat sat', requestedBy: 'alice' });
      const view = (await pending.followUp!) as AnalysisView;
      expect(view.status).toBe('done');
      expect(view.model).toBe('confab-reference-v1');
      expect(view.tokens).toHaveLength(12); // BOS + 11 bytes
      expect(view.positions).toHaveLength(1);
      const [p] = view.positions;
      expect(p.position).toBe(11);
      expect(p.token).toBe('t');
      expect(p.features).toHaveLength(8);
      expect(p.explanations.map((e) => e.number)).toEqual([1, 2]);
      expect(p.explanations[0].claims).toEqual(['The token "t" closes a word.', 'It sits in a computing jargon entry.', 'Sample 1.']);
      expect(p.explanations[0].ar!.cosine).toBeGreaterThan(0.4);
      // Nobody has voted: tallies hidden.
      expect(p.explanations.every((e) => e.tally === null && e.state === 'open')).toBe(true);

      const [stored] = await services.database.db
        .select({ vector: activations.vector, dModel: activations.dModel })
        .from(activations)
        .innerJoin(positions, eq(positions.id, activations.positionId))
        .where(eq(positions.analysisId, view.analysisId));
      expect(stored.dModel).toBe(128);
      const response = await worker.analyze({ prompt: 'The cat sat', positions: [11], return_activations: true });
      const expected = decodeActivation(response.positions[0].activation!);
      const bytes = Buffer.from(stored.vector);
      expect(Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, 128))).toEqual(Array.from(expected));
    });

    it('analyses the token named by text, or by position', async () => {
      const before = worker.requests.length;
      const byText = await explainAndWait(services, actor('alice'), { prompt: 'The cat sat on the mat', token: 'cat' });
      expect(byText.positions[0].position).toBe(7); // BOS, T,h,e,space,c,a,t → "t" of cat
      expect(worker.requests.length - before).toBe(2); // token lookup, then the analysis
      const byPosition = await explainAndWait(services, actor('alice'), { prompt: 'The cat', position: 1 });
      expect(byPosition.positions[0]).toMatchObject({ position: 1, token: 'T' });
      const fromEnd = await explainAndWait(services, actor('alice'), { prompt: 'The cat', position: '-2' });
      expect(fromEnd.positions[0].token).toBe('a');
    });

    it('rejects bad input with what is allowed, and stores nothing', async () => {
      const [{ n: before }] = await queryRows<{ n: number }>(services.database.db, sql`select count(*)::int as n from analyses`);
      const alice = actor('alice');
      expect(await runError(services, alice, 'explain', { prompt: '' })).toMatchObject({ code: 'prompt_empty' });
      expect(await runError(services, alice, 'explain', { prompt: '   \n ' })).toMatchObject({ code: 'prompt_empty' });
      expect(await runError(services, alice, 'explain', {})).toMatchObject({ code: 'missing_option' });
      const tooLong = await runError(services, alice, 'explain', { prompt: 'x'.repeat(2400) });
      expect(tooLong).toMatchObject({ code: 'prompt_too_long', message: 'Prompt is 2,400 characters; the limit is 2,000.' });
      const control = await runError(services, alice, 'explain', { prompt: 'ring \u0007 the bell' });
      expect(control.code).toBe('control_characters');
      expect(control.message).toContain('U+0007');
      expect(await runError(services, alice, 'explain', { prompt: 'The cat', token: 'dog' })).toMatchObject({ code: 'unknown_token' });
      expect(await runError(services, alice, 'explain', { prompt: 'The cat', token: 'cat', position: 1 })).toMatchObject({ code: 'conflicting_options' });
      expect(await runError(services, alice, 'explain', { prompt: 'The cat', position: 'abc' })).toMatchObject({ code: 'invalid_option' });
      expect((await runError(services, alice, 'explain', { prompt: 'The cat', samples: 20 })).message).toBe('Samples must be from 1 to 8 for /explain; got 20.');
      expect(await runError(services, alice, 'explain', { prompt: 'The cat', colour: 'red' })).toMatchObject({ code: 'unknown_option' });
      expect(await runError(services, alice, 'frobnicate', {})).toMatchObject({ code: 'unknown_command' });
      const [{ n: after }] = await queryRows<{ n: number }>(services.database.db, sql`select count(*)::int as n from analyses`);
      expect(after).toBe(before);
    });

    it('fails an analysis at an unknown position with the reason, and refuses to retry it', async () => {
      const result = await explainAndWait(services, actor('alice'), { prompt: 'The cat', position: 40 });
      expect(result.status).toBe('failed');
      expect(result.retryable).toBe(false);
      expect(result.error).toContain('position 40 is out of range');
      expect(await runError(services, actor('alice'), 'retry', { analysis: result.analysisId })).toMatchObject({ code: 'not_retryable' });
      expect(await runError(services, actor('alice'), 'retry', { analysis: 999_999 })).toMatchObject({ code: 'unknown_analysis' });
    });

    it('counts votes, hides tallies until the reviewer voted, and keeps a split item open until its posterior clears', async () => {
      const view = await explainAndWait(services, actor('alice'), { prompt: 'Gravity is a theory' });
      const [id] = explanationIds(view);

      const first = (await run(services, actor('r1'), 'vote', { explanation: id, label: 'faithful' })).view as VoteAckView;
      expect(first).toMatchObject({ kind: 'vote-ack', change: 'recorded', state: 'open', closedNow: false, tally: { faithful: 1, confabulated: 0, unsure: 0 } });

      // An unsure vote is recorded but does not count towards closing.
      const unsure = (await run(services, actor('r2'), 'vote', { explanation: id, label: 'unsure' })).view as VoteAckView;
      expect(unsure).toMatchObject({ change: 'recorded', state: 'open', tally: { unsure: 1 } });

      const changed = (await run(services, actor('r2'), 'vote', { explanation: `#${id}`, label: 'Confabulated', note: 'wrong source' })).view as VoteAckView;
      expect(changed).toMatchObject({ change: 'changed', previous: 'unsure', myVote: 'confabulated', note: 'wrong source', tally: { confabulated: 1, unsure: 0 } });

      const dup = (await run(services, actor('r1'), 'vote', { explanation: id, label: 'faithful' })).view as VoteAckView;
      expect(dup).toMatchObject({ change: 'unchanged', tally: { faithful: 1, confabulated: 1 } });

      // Three decisive votes, split 1–2: the posterior of "confabulated" is 0.69 < 0.8, so the
      // item stays open for more votes (low agreement).
      const third = (await run(services, actor('r3'), 'vote', { explanation: id, label: 'confabulated', claims: '2' })).view as VoteAckView;
      expect(third).toMatchObject({ change: 'recorded', closedNow: false, state: 'open', markedClaims: ['It sits in a computing jargon entry.'] });
      // 1–3: P(Beta(4, 2) > 1/2) = 26/32 = 0.81 clears the threshold, and the item closes.
      const fourth = (await run(services, actor('r4'), 'vote', { explanation: id, label: 'confabulated' })).view as VoteAckView;
      expect(fourth).toMatchObject({ closedNow: true, state: 'closed', closedReason: 'votes', outcome: 'confabulated', tally: { faithful: 1, confabulated: 3 } });

      const refused = await runError(services, actor('r5'), 'vote', { explanation: id, label: 'faithful' });
      expect(refused.code).toBe('item_closed');
      expect(refused.message).toContain(`#${id} is closed`);
      // A late second click on the same button after the close is still just "unchanged".
      expect(((await run(services, actor('r3'), 'vote', { explanation: id, label: 'confabulated', claims: '2' })).view as VoteAckView).change).toBe('unchanged');
      // A change after the close is refused.
      expect((await runError(services, actor('r1'), 'vote', { explanation: id, label: 'confabulated' })).code).toBe('item_closed');

      const history = await services.database.db.select().from(voteHistory).where(eq(voteHistory.explanationId, id));
      expect(history.map((h) => [h.label, h.previousLabel])).toEqual([
        ['faithful', null],
        ['unsure', null],
        ['confabulated', 'unsure'],
        ['confabulated', null],
        ['confabulated', null],
      ]);
      const rows = await services.database.db.select().from(votes).where(eq(votes.explanationId, id));
      expect(rows).toHaveLength(4);
      const changes = await services.database.db.select().from(explanationStateChanges).where(eq(explanationStateChanges.explanationId, id));
      expect(changes.map((c) => [c.state, c.reason, c.faithfulVotes, c.confabulatedVotes])).toEqual([['closed', 'votes', 1, 3]]);

      // Closed: the tally is visible to everyone, with the outcome.
      const { loadAnalysisView } = await import('../../src/core/views');
      const seen = await loadAnalysisView(services.database.db, view.analysisId, null);
      expect(seen.positions[0].explanations[0]).toMatchObject({ state: 'closed', closedReason: 'votes', outcome: 'confabulated', tally: { faithful: 1, confabulated: 3 } });
    });

    it('answers unknown ids and bad vote options clearly', async () => {
      expect(await runError(services, actor('r1'), 'vote', { explanation: 987_654, label: 'faithful' })).toMatchObject({ code: 'unknown_explanation' });
      expect(await runError(services, actor('r1'), 'vote', { explanation: 1, label: 'maybe' })).toMatchObject({
        code: 'invalid_option',
        message: 'Label must be one of faithful, confabulated, unsure; got "maybe".',
      });
      expect(await runError(services, actor('r1'), 'vote', { explanation: 1 })).toMatchObject({ code: 'missing_option' });
      const view = await explainAndWait(services, actor('alice'), { prompt: 'One claim here' });
      const [id] = explanationIds(view);
      expect((await runError(services, actor('r1'), 'vote', { explanation: id, label: 'confabulated', claims: '9' })).message).toBe(
        `Claim 9 does not exist: explanation #${id} has 3 claims (1-3).`,
      );
      expect((await runError(services, actor('r1'), 'vote', { explanation: id, label: 'faithful', note: 'x'.repeat(1001) })).code).toBe('too_long');
      // Another workspace cannot see or vote on this item.
      expect((await runError(services, actor('r1', { workspaceId: 'other' }), 'vote', { explanation: id, label: 'faithful' })).code).toBe('unknown_explanation');
    });

    it('serves the review queue: fewest decisive votes first, never an item already voted on', async () => {
      const reviewer = actor(`queue-${kind}`);
      const seen = new Set<number>();
      for (let i = 0; i < 200; i++) {
        const result = await run(services, reviewer, 'review');
        if (result.view.kind === 'message') break;
        const item = result.view as ReviewItemView;
        expect(item.kind).toBe('review-item');
        expect(item.explanation.state).toBe('open');
        expect(item.explanation.tally).toBeNull();
        expect(seen.has(item.explanation.explanationId)).toBe(false);
        seen.add(item.explanation.explanationId);
        const ack = (await run(services, reviewer, 'vote', { explanation: item.explanation.explanationId, label: 'unsure' })).view as VoteAckView;
        expect(ack.kind).toBe('vote-ack');
      }
      const done = await run(services, reviewer, 'review');
      expect(done.view).toMatchObject({ kind: 'message', title: 'Nothing to review' });
      expect(seen.size).toBeGreaterThan(3);

      // Order: an item with a decisive vote comes after items with none.
      const fresh = await explainAndWait(services, actor('alice'), { prompt: 'Queue order check', samples: 2 });
      const [a, b] = explanationIds(fresh);
      await run(services, actor('q1'), 'vote', { explanation: a, label: 'faithful' });
      const next = (await run(services, actor(`queue2-${kind}`), 'review')).view as ReviewItemView;
      const ordered = await queryRows<{ id: number; d: number }>(
        services.database.db,
        sql`select id, decisive_votes as d from explanations where state = 'open' and source = 'nla'
            order by decisive_votes >= 3 desc, decisive_votes, 1 - abs(2 * (confabulated_votes + 1)::float8 / (decisive_votes + 2) - 1) desc, id limit 1`,
      );
      expect(next.explanation.explanationId).toBe(ordered[0].id);
      expect(next.explanation.explanationId).not.toBe(a);
      expect([a, b]).toContain(b);
    });

    it('shows stats and a feature card', async () => {
      const stats = (await run(services, actor('alice'), 'stats')).view as StatsView;
      expect(stats.kind).toBe('stats');
      expect(stats.analyses).toBeGreaterThan(5);
      expect(stats.closedItems).toBeGreaterThanOrEqual(1);
      expect(stats.reviewers).toBeGreaterThanOrEqual(3);
      expect(stats.confabulationRate).toMatchObject({ rate: 1, n: 1 });
      expect(stats.confabulationRate!.low).toBeGreaterThan(0);
      // One item has two or more decisive votes so far: 1 faithful, 3 confabulated. Alpha's
      // observed disagreement (1/n)·2·1·3/(4−1) = 0.5 (n = 4 values) against the expected
      // 2·1·3/(n(n−1)) = 0.5 gives 1 − 0.5/0.5 = 0.
      expect(stats.extra).toContainEqual({ label: "Krippendorff's alpha", value: '0.00 over 1 items with two or more votes, open or closed' });
      expect(stats.extra.find((l) => l.label === 'Decoys caught')?.value).toBe('no votes on decoys yet');
      expect(stats.extra.map((l) => l.label)).toEqual(expect.arrayContaining(['AUROC, AR round trip (fve_nrm)', 'AUROC, SAE feature-label overlap', 'AUROC, LLM judge']));

      const [{ feature_index: index, fired }] = await queryRows<{ feature_index: number; fired: number }>(
        services.database.db,
        sql`select feature_index, count(*)::int as fired from sae_features group by feature_index order by count(*) desc, feature_index limit 1`,
      );
      const card = (await run(services, actor('alice'), 'feature', { index })).view as FeatureCardView;
      expect(card).toMatchObject({ kind: 'feature', index, firedCount: fired });
      expect(card.label).toContain(`feature ${index}`);
      expect(card.analysedPositions).toBeGreaterThanOrEqual(fired);
      expect(card.examples.length).toBeGreaterThan(0);
      expect(card.examples[0].context).toContain(/^<[0-9A-F ]+>$/.test(card.examples[0].token) ? '' : card.examples[0].token);
      const unseen = (await run(services, actor('alice'), 'feature', { index: 5000 })).view as FeatureCardView;
      expect(unseen).toMatchObject({ firedCount: 0, examples: [] });
      expect(await runError(services, actor('alice'), 'feature', { index: -1 })).toMatchObject({ code: 'invalid_option' });
    });

    it('lets only admins change settings, and applies them', async () => {
      expect(await runError(services, actor('bob'), 'settings', { votes_to_close: 1 })).toMatchObject({ code: 'admin_only' });
      const shown = (await run(services, admin, 'settings')).view as SettingsView;
      expect(shown.settings).toEqual({
        votes_to_close: 3,
        max_prompt_chars: 2000,
        decoy_rate: 0,
        reviewer_role: null,
        digest_channel: null,
        digest_schedule: 'off',
        digest_time_zone: 'UTC',
        channel_decoy_rate: null,
      });
      const set = (await run(services, admin, 'settings', { votes_to_close: 1, max_prompt_chars: 10 })).view as SettingsView;
      expect(set).toMatchObject({ settings: { votes_to_close: 1, max_prompt_chars: 10 }, changed: ['votes_to_close', 'max_prompt_chars'] });
      expect((await runError(services, actor('bob'), 'explain', { prompt: 'eleven char' })).message).toBe('Prompt is 11 characters; the limit is 10.');
      expect(await runError(services, admin, 'settings', { votes_to_close: 0 })).toMatchObject({ code: 'invalid_option' });

      await run(services, admin, 'settings', { max_prompt_chars: 2000 });
      const view = await explainAndWait(services, actor('alice'), { prompt: 'One vote closes' });
      const [id] = explanationIds(view);
      const ack = (await run(services, actor('bob'), 'vote', { explanation: id, label: 'faithful' })).view as VoteAckView;
      expect(ack).toMatchObject({ closedNow: true, state: 'closed' });
      // Other workspaces keep the defaults.
      const elsewhere = (await run(services, actor('ada', { isAdmin: true, workspaceId: 'other' }), 'settings')).view as SettingsView;
      expect(elsewhere.settings.votes_to_close).toBe(3);
      await run(services, admin, 'settings', { votes_to_close: 3 });
    });

    it('lets admins close and reopen an item', async () => {
      const view = await explainAndWait(services, actor('alice'), { prompt: 'Close me early' });
      const [id] = explanationIds(view);
      expect(await runError(services, actor('bob'), 'close', { explanation: id })).toMatchObject({ code: 'admin_only' });
      // The view carries the item's state and tally, so a channel can update the public message.
      expect((await run(services, admin, 'close', { explanation: id })).view).toMatchObject({
        kind: 'message',
        tone: 'success',
        item: { explanationId: id, analysisId: view.analysisId, state: 'closed', closedReason: 'admin', outcome: 'undecided', tally: { faithful: 0, confabulated: 0, unsure: 0 } },
      });
      expect(await runError(services, admin, 'close', { explanation: id })).toMatchObject({ code: 'already_closed' });
      expect((await runError(services, actor('bob'), 'vote', { explanation: id, label: 'faithful' })).message).toContain('an admin closed it');
      expect((await run(services, admin, 'reopen', { explanation: id })).view).toMatchObject({ kind: 'message', item: { explanationId: id, state: 'open' } });
      expect(((await run(services, actor('bob'), 'vote', { explanation: id, label: 'faithful' })).view as VoteAckView).change).toBe('recorded');
      expect(await runError(services, admin, 'reopen', { explanation: id })).toMatchObject({ code: 'already_open' });
      const changes = await services.database.db.select().from(explanationStateChanges).where(eq(explanationStateChanges.explanationId, id));
      expect(changes.map((c) => [c.state, c.reason, c.changedBy !== null])).toEqual([
        ['closed', 'admin', true],
        ['open', 'admin', true],
      ]);
    });

    it('counts concurrent votes exactly and closes an item once', async () => {
      const view = await explainAndWait(services, actor('alice'), { prompt: 'Concurrent votes' });
      const [id] = explanationIds(view);
      const acks = await Promise.all(
        Array.from({ length: 12 }, (_, i) => run(services, actor(`c${i}`), 'vote', { explanation: id, label: i % 2 ? 'faithful' : 'confabulated' })),
      );
      const accepted = acks.filter((a) => a.view.kind === 'vote-ack') as Array<{ view: VoteAckView }>;
      const refused = acks.filter((a) => a.view.kind === 'error');
      // The item closes once: at three votes if they agree, later if split, at the latest at the
      // cap of 2·3 + 1 = 7. Every vote after the close is refused; none is lost or double counted.
      const closing = accepted.filter((a) => a.view.closedNow);
      expect(closing).toHaveLength(1);
      const atClose = closing[0].view.tally.faithful + closing[0].view.tally.confabulated;
      expect(atClose).toBeGreaterThanOrEqual(3);
      expect(atClose).toBeLessThanOrEqual(7);
      expect(accepted).toHaveLength(atClose);
      expect(refused).toHaveLength(12 - atClose);
      const rows = await services.database.db.select().from(votes).where(eq(votes.explanationId, id));
      expect(rows).toHaveLength(atClose);

      // The same reviewer double-clicking many times at once: one vote, one history row.
      const view2 = await explainAndWait(services, actor('alice'), { prompt: 'Double clicks' });
      const [id2] = explanationIds(view2);
      const clicks = await Promise.all(Array.from({ length: 8 }, () => run(services, actor('clicker'), 'vote', { explanation: id2, label: 'faithful' })));
      expect(clicks.map((c) => (c.view as VoteAckView).change).sort()).toEqual(['recorded', ...Array(7).fill('unchanged')]);
      const history = await services.database.db.select().from(voteHistory).where(eq(voteHistory.explanationId, id2));
      expect(history).toHaveLength(1);
      const [row] = await services.database.db
        .select({ status: analyses.status })
        .from(analyses)
        .where(and(eq(analyses.id, view2.analysisId)));
      expect(row.status).toBe('done');
    });
  });
}
