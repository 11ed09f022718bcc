/**
 * The review policy as it runs: the close rule (the vote function and confab_lead_posterior)
 * and the review order (nextReviewItem's query) on a real database, plus the decoy choices.
 */
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, queryRows, type Database } from '../../db';
import { explanationStateChanges, explanations } from '../../db/schema';
import type { Actor } from '../../src/core/actor';
import { DomainError } from '../../src/core/errors';
import { Identity, type ActorIds } from '../../src/core/identity';
import { pickDecoySource, shouldServeDecoy } from '../../src/core/labels/decoys';
import { labelStatsLines, signalAurocs, type LabelledExplanation } from '../../src/core/labels/stats-extra';
import { nextReviewItem } from '../../src/core/queue';
import { SettingsStore } from '../../src/core/settings';
import { castVote } from '../../src/core/votes';
import { createTestDatabase, STORAGE_KINDS, testConfig, type TestDatabase } from '../db/support';
import { mulberry32 } from './crowd';

for (const { kind, skip } of STORAGE_KINDS) {
  describe.skipIf(skip)(`the review policy in SQL on ${kind}`, () => {
    let test: TestDatabase;
    let database: Database;
    let identity: Identity;
    let store: SettingsStore;
    let workspace = 0;

    beforeAll(async () => {
      test = await createTestDatabase(kind);
      database = await openDatabase(test.target);
      identity = new Identity(database.db, 'queue-priority-secret');
      store = new SettingsStore(testConfig(test.target), 0);
    });
    afterAll(async () => {
      await database?.close();
      await test?.drop();
    });

    const who = (userId: string, workspaceId: string): Promise<ActorIds> => {
      const actor: Actor = { platform: 'terminal', workspaceId, channelId: 'main', userId, displayName: userId, isAdmin: false };
      return identity.resolve(actor);
    };

    /** A new workspace with `count` open NLA explanations on one finished analysis, with the given votes. */
    async function seed(votes: Array<[number, number]>): Promise<{ ws: string; ids: number[] }> {
      const ws = `ws-${++workspace}`;
      const owner = await who('owner', ws);
      const [analysis] = await queryRows<{ id: number }>(
        database.db,
        sql`insert into analyses (workspace_id, channel_id, requester_id, prompt, status, model, layer, positions)
            values (${owner.workspaceId}, ${owner.channelId}, ${owner.reviewerId}, 'A seeded prompt', 'done', 'm', 2, '[0]') returning id`,
      );
      const [position] = await queryRows<{ id: number }>(
        database.db,
        sql`insert into positions (analysis_id, position, token, l0, explained_variance, fve_nrm)
            values (${analysis.id}, 0, 'A', 1, 0.5, 0.5) returning id`,
      );
      const ids: number[] = [];
      for (const [sample, [f, c]] of votes.entries()) {
        const [row] = await queryRows<{ id: number }>(
          database.db,
          sql`insert into explanations (position_id, analysis_id, workspace_id, sample, text, raw, parsed, faithful_votes, confabulated_votes, decisive_votes)
              values (${position.id}, ${analysis.id}, ${owner.workspaceId}, ${sample}, ${`explanation ${sample}`}, '', true, ${f}, ${c}, ${f + c}) returning id`,
        );
        ids.push(Number(row.id));
      }
      return { ws, ids };
    }

    it('computes the Beta(1,1) posterior of the leading label exactly', async () => {
      const pairs: Array<[number, number]> = [[3, 0], [1, 2], [4, 1], [2, 2], [0, 0], [600, 400]];
      const values = sql.join(pairs.map(([f, c]) => sql`(${f}::int, ${c}::int)`), sql`, `);
      const rows = await queryRows<{ f: number; c: number; p: number }>(
        database.db,
        sql`select f, c, confab_lead_posterior(f, c) as p from (values ${values}) as t(f, c)`,
      );
      const p = rows.map((r) => Number(r.p));
      expect(p[0]).toBeCloseTo(15 / 16, 12);
      expect(p[1]).toBeCloseTo(11 / 16, 12);
      expect(p[2]).toBeCloseTo(57 / 64, 12);
      expect(p[3]).toBe(0.5);
      expect(p[4]).toBe(0.5);
      // Large counts stay finite and near 1.
      expect(p[5]).toBeGreaterThan(0.999);
    });

    /** Casts `labels` in order, one reviewer each, on a fresh item; returns the item after each vote. */
    async function voteInOrder(labels: Array<'faithful' | 'confabulated' | 'unsure'>, votesToClose = 3) {
      const { ws, ids } = await seed([[0, 0]]);
      const owner = await who('owner', ws);
      await store.update(database.db, owner.workspaceId, owner.reviewerId, { votes_to_close: votesToClose });
      const states: Array<{ state: string; reason: string | null; f: number; c: number }> = [];
      for (const [i, label] of labels.entries()) {
        await castVote(database.db, store, await who(`reviewer-${i}`, ws), { explanationId: ids[0], label });
        const [row] = await database.db.select().from(explanations).where(eq(explanations.id, ids[0]));
        states.push({ state: row.state, reason: row.closedReason, f: row.faithfulVotes, c: row.confabulatedVotes });
      }
      return { id: ids[0], ws, states };
    }

    it('closes a unanimous item at N votes, and not before', async () => {
      const { states } = await voteInOrder(['confabulated', 'confabulated', 'confabulated']);
      expect(states.map((s) => s.state)).toEqual(['open', 'open', 'closed']);
      expect(states[2]).toMatchObject({ reason: 'votes', c: 3 });
    });

    it('keeps a split item open for more votes, and closes it once the posterior clears 0.8', async () => {
      // 2–1 has posterior 11/16; 3–1 has 13/16.
      const { states } = await voteInOrder(['faithful', 'confabulated', 'faithful', 'faithful']);
      expect(states.map((s) => s.state)).toEqual(['open', 'open', 'open', 'closed']);
      expect(states[3]).toMatchObject({ reason: 'votes', f: 3, c: 1 });
    });

    it('closes a contested item at 2N + 1 decisive votes, and refuses votes after', async () => {
      const { id, ws, states } = await voteInOrder(['faithful', 'confabulated', 'faithful', 'confabulated', 'faithful', 'confabulated', 'faithful']);
      expect(states.map((s) => s.state)).toEqual(['open', 'open', 'open', 'open', 'open', 'open', 'closed']);
      expect(states[6]).toMatchObject({ reason: 'max_votes', f: 4, c: 3 });
      const history = await database.db.select().from(explanationStateChanges).where(eq(explanationStateChanges.explanationId, id));
      expect(history).toMatchObject([{ state: 'closed', reason: 'max_votes', faithfulVotes: 4, confabulatedVotes: 3 }]);
      const late = castVote(database.db, store, await who('late', ws), { explanationId: id, label: 'faithful' });
      await expect(late).rejects.toThrow(DomainError);
      await expect(late).rejects.toMatchObject({ code: 'item_closed' });
    });

    it('counts unsure votes but never closes on them; one vote closes when votes_to_close is 1', async () => {
      const unsure = await voteInOrder(['unsure', 'unsure', 'unsure', 'faithful']);
      expect(unsure.states.map((s) => s.state)).toEqual(['open', 'open', 'open', 'open']);
      const single = await voteInOrder(['confabulated'], 1);
      expect(single.states[0]).toMatchObject({ state: 'closed', reason: 'votes' });
    });

    it('orders the queue: contested first, then fewest decisive votes, most uncertain, oldest', async () => {
      // Indices into `ids`: 0 is 2–0, 1 is 1–1, 2 is 2–0, 3 unvoted, 4 is 1–0, 5 is 2–2 (contested at N = 3).
      const { ws, ids } = await seed([[2, 0], [1, 1], [2, 0], [0, 0], [1, 0], [2, 2]]);
      const served: number[] = [];
      // Each reviewer's item is soft-locked for them, so the next reviewer gets the next item.
      for (let r = 0; r < ids.length; r++) {
        const item = await nextReviewItem(database.db, await who(`r${r}`, ws), { votesToClose: 3, decoyRate: 0 });
        served.push(item!.explanation.explanationId);
      }
      expect(served).toEqual([5, 3, 4, 1, 0, 2].map((i) => ids[i]));

      // With every item locked by someone else, the first is shared rather than withheld.
      const extra = await nextReviewItem(database.db, await who('extra', ws), { votesToClose: 3, decoyRate: 0 });
      expect(extra!.explanation.explanationId).toBe(ids[5]);

      // A lock expires; a reviewer holds one lock at a time; nobody is offered an item they voted on.
      await database.db.execute(sql`update review_locks set until = now() - interval '1 second' where explanation_id = ${ids[3]}`);
      const late = await who('late', ws);
      expect((await nextReviewItem(database.db, late, { votesToClose: 3, decoyRate: 0 }))!.explanation.explanationId).toBe(ids[3]);
      await castVote(database.db, store, late, { explanationId: ids[3], label: 'unsure' });
      const again = await nextReviewItem(database.db, late, { votesToClose: 3, decoyRate: 0 });
      expect(again!.explanation.explanationId).not.toBe(ids[3]);
      const locks = await queryRows<{ n: number }>(database.db, sql`select count(*)::int as n from review_locks where reviewer_id = ${late.reviewerId}`);
      expect(Number(locks[0].n)).toBeLessThanOrEqual(1);
    });
  });
}

describe('decoys', () => {
  it('are served at the configured rate', () => {
    const random = mulberry32(42);
    let served = 0;
    for (let i = 0; i < 10_000; i++) if (shouldServeDecoy(0.1, random)) served++;
    expect(served / 10_000).toBeCloseTo(0.1, 1.5);
    expect(shouldServeDecoy(0, random)).toBe(false);
    expect(() => shouldServeDecoy(1.5)).toThrow('Decoy rate must be from 0 to 1; got 1.5.');
  });

  it('come from a different prompt, preferably the same model and layer', () => {
    const target = { analysisId: 1, prompt: 'p1', model: 'm', layer: 2 };
    const candidates = [
      { explanationId: 10, analysisId: 1, prompt: 'p1', model: 'm', layer: 2, text: 'same analysis' },
      { explanationId: 11, analysisId: 2, prompt: 'p1', model: 'm', layer: 2, text: 'same prompt, other analysis' },
      { explanationId: 12, analysisId: 3, prompt: 'p3', model: 'other', layer: 2, text: 'other model' },
      { explanationId: 13, analysisId: 4, prompt: 'p4', model: 'm', layer: 2, text: 'good' },
    ];
    expect(pickDecoySource(target, candidates, () => 0.99)!.explanationId).toBe(13);
    expect(pickDecoySource(target, candidates.slice(0, 3), () => 0)!.explanationId).toBe(12);
    expect(pickDecoySource(target, candidates.slice(0, 2))).toBeNull();
  });
});

describe('/stats label lines', () => {
  const item = (source: string, f: number, c: number, ar: number | null, overlap?: number): LabelledExplanation => ({
    source,
    faithfulVotes: f,
    confabulatedVotes: c,
    arFveNrm: ar,
    signals: overlap === undefined ? {} : { feature_overlap: { score: overlap } },
  });
  const items = [
    item('nla', 3, 0, 0.9, 0.8),
    item('nla', 2, 1, 0.7, 0.2),
    item('nla', 0, 3, 0.3, 0.6),
    item('nla', 1, 2, 0.5, 0.1),
    item('nla', 2, 2, 0.1, 0.9), // tied: no human label
    item('decoy', 1, 2, null),
    item('decoy', 0, 3, null),
  ];

  it('computes each signal AUROC against the majority label, leaving ties and decoys out', () => {
    const [ar, overlap, judge] = signalAurocs(items);
    expect(ar).toMatchObject({ signal: 'ar_fve_nrm', n: 4 });
    expect(ar.result!.auroc).toBe(1);
    expect(overlap.result!.auroc).toBe(0.75);
    expect(judge).toMatchObject({ signal: 'judge', result: null, n: 0 });
  });

  it('formats agreement, decoy catch rate and AUROC lines', () => {
    const lines = Object.fromEntries(labelStatsLines(items).map((l) => [l.label, l.value]));
    expect(lines["Fleiss' kappa"]).toMatch(/^n\/a \(items have unequal rater counts/);
    expect(lines["Krippendorff's alpha"]).toMatch(/^-?\d\.\d\d over 5 items with two or more votes, open or closed$/);
    expect(lines['Decoys caught']).toMatch(/^83% of 6 votes \(95% CI \d+–\d+%\)$/);
    expect(lines['AUROC, AR round trip (fve_nrm)']).toMatch(/^1\.00 \(95% CI \d\.\d\d–1\.00, Hanley–McNeil\) over 4 items with a majority label and this signal, open or closed: 2 faithful vs 2 confabulated$/);
    expect(lines['AUROC, LLM judge']).toBe('n/a (no labelled item has this signal)');
  });
});
