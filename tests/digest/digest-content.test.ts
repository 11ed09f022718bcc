/**
 * The digest's figures on a seeded database (tests/digest/seed.ts), each worked out by hand, on
 * PGlite and on PostgreSQL.
 */
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../db';
import { reviewers, votes, workspaces } from '../../db/schema';
import { loadDigest, type Digest } from '../../src/core/digest/content';
import { parseIsoWeek } from '../../src/core/digest/period';
import { digestJson, digestLines, digestTitle } from '../../src/core/digest/text';
import { krippendorffAlphaFromCounts } from '../../src/core/labels/agreement';
import { createTestDatabase, STORAGE_KINDS, type TestDatabase } from '../db/support';
import { seedDigestHistory, type DigestSeed } from './seed';

for (const { kind, skip } of STORAGE_KINDS) {
  describe.skipIf(skip)(`digest content (${kind})`, () => {
    let testDb: TestDatabase;
    let database: Database;
    let seed: DigestSeed;
    let digest: Digest;

    beforeAll(async () => {
      testDb = await createTestDatabase(kind);
      database = await openDatabase(testDb.target);
      seed = await seedDigestHistory(database.db);
      // A second workspace with the same history must not leak into the first one's figures.
      await seedDigestHistory(database.db, 'guild-other', 'chan-other');
      digest = await loadDigest(database.db, seed.workspaceId, parseIsoWeek('2026-W48', 'UTC'));
    }, 180_000);
    afterAll(async () => {
      await database?.close();
      await testDb?.drop();
    });

    it('covers ISO week 2026-W48 in UTC', () => {
      expect(digest.period.label).toBe('2026-W48');
      expect(digest.period.start.toISOString()).toBe('2026-11-23T00:00:00.000Z');
      expect(digest.period.end.toISOString()).toBe('2026-11-30T00:00:00.000Z');
      expect(digestTitle(digest)).toBe('Digest · 2026-W48');
    });

    it('counts what happened in the week', () => {
      // A1, A2 requested in W48 (A3 in W47).
      expect(digest.analyses).toBe(2);
      // E1, E2, E3, E4 and E6 got a vote in W48; the decoy is not an explanation row.
      expect(digest.explanationsVoted).toBe(5);
      // E1 3 + E2 4 (one unsure) + E3 2 + E4 3 + E6 1 + decoy 3; E6's W49 vote is outside.
      expect(digest.votes).toBe(16);
      expect(digest.reviewers).toBe(4);
      // E1–E4 closed in W48 (E5 in W47, E6 open).
      expect(digest.itemsClosed).toBe(4);
      expect(digest.empty).toBe(false);
    });

    it('gives the confabulation rate of the closed items with its Wilson interval', () => {
      // E1 faithful 2–1, E2 confabulated 0–3, E3 a 1–1 tie (left out), E4 faithful 3–0: 1 of 3.
      // Wilson, z = 1.96: (1/3 + z²/6 ± z·sqrt(2/27 + z²/36)) / (1 + z²/3) = 0.0615 … 0.7923.
      expect(digest.confabulationRate!.n).toBe(3);
      expect(digest.confabulationRate!.rate).toBeCloseTo(1 / 3, 10);
      expect(digest.confabulationRate!.low).toBeCloseTo(0.061492, 5);
      expect(digest.confabulationRate!.high).toBeCloseTo(0.79234, 5);
    });

    it('gives the trend over the last 8 weeks', () => {
      expect(digest.trend.map((t) => t.label)).toEqual(['2026-W41', '2026-W42', '2026-W43', '2026-W44', '2026-W45', '2026-W46', '2026-W47', '2026-W48']);
      // W47: E5 closed confabulated 2–1, so 1 of 1.
      expect(digest.trend[6].rate).toMatchObject({ rate: 1, n: 1 });
      expect(digest.trend[7].rate).toEqual(digest.confabulationRate);
      expect(digest.trend.slice(0, 6).every((t) => t.rate === null)).toBe(true);
    });

    it("computes Krippendorff's alpha over the week's votes", () => {
      // Items with ≥ 2 decisive W48 votes: E1 (2 f, 1 c), E2 (0, 3), E3 (1, 1), E4 (3, 0).
      // n = 11; D_o sum = Σ 2fc/(m−1) = 2 + 0 + 2 + 0 = 4; n_f = 6, n_c = 5;
      // alpha = 1 − (n − 1)·4 / (n² − 6² − 5²) = 1 − 40/60 = 1/3.
      expect(digest.alphaItems).toBe(4);
      expect(digest.alpha).toBeCloseTo(1 / 3, 10);
      expect(krippendorffAlphaFromCounts([2, 1, 0, 3, 1, 1, 3, 0], 2).alpha).toBeCloseTo(digest.alpha!, 12);
    });

    it('counts decoy votes and catches in aggregate', () => {
      expect(digest.decoys).toEqual({ votes: 3, caught: 2 });
    });

    it('lists the 3 most contested items with where they were asked', () => {
      // E3 1–1 and E6 1–1 (its W49 vote counts in its tally) tie on split and size: lower id
      // first; then E1 2–1. E2 and E4 were unanimous.
      expect(digest.contested.map((c) => c.explanationId)).toEqual([seed.ids.E3, seed.ids.E6, seed.ids.E1]);
      expect(digest.contested[0]).toMatchObject({ analysisId: seed.analysisIds[1], faithful: 1, confabulated: 1, channel: 'chan-digest', messageRef: 'msg-1' });
    });

    it("measures each signal's AUROC against the week's labels", () => {
      const byName = Object.fromEntries(digest.signals.map((s) => [s.name, s]));
      // ar_fve_nrm: faithful E1 0.9 and E4 0.1 against confabulated E2 0.2: one pair of two
      // ranks right, so 0.5; Hanley–McNeil SE = sqrt((0.25 + (1/3 − 0.25)) / 2) = 0.408.
      expect(byName.ar_fve_nrm.n).toBe(3);
      expect(byName.ar_fve_nrm.auroc).toBeCloseTo(0.5, 10);
      expect(byName.ar_fve_nrm.low).toBe(0);
      expect(byName.ar_fve_nrm.high).toBe(1);
      // feature_overlap: E1 0.8 (faithful) above E2 0.4 (confabulated).
      expect(byName.feature_overlap).toMatchObject({ n: 2, auroc: 1 });
      expect(byName.judge).toEqual({ name: 'judge', auroc: null, low: null, high: null, n: 0 });
    });

    it('compares SAE and NLA fve_nrm by median and quartiles', () => {
      // SAE: positions of A1 and A2, 0.6 and 0.8.
      expect(digest.fveNrm.sae!.median).toBeCloseTo(0.7, 10);
      expect(digest.fveNrm.sae!.q1).toBeCloseTo(0.65, 10);
      expect(digest.fveNrm.sae!.q3).toBeCloseTo(0.75, 10);
      // NLA: E1–E4 round trips 0.1, 0.2, 0.5, 0.9 (linear interpolation between order statistics).
      expect(digest.fveNrm.nla!.median).toBeCloseTo(0.35, 10);
      expect(digest.fveNrm.nla!.q1).toBeCloseTo(0.175, 10);
      expect(digest.fveNrm.nla!.q3).toBeCloseTo(0.6, 10);
      expect(digest.fveNrm.nla!.n).toBe(4);
    });

    it('reports the dataset size and what is new', () => {
      // Six real explanations; E1–E4 were created since the week began.
      expect(digest.dataset.rows).toBe(6);
      expect(digest.dataset.newRows).toBe(4);
    });

    it('prints exactly the JSON keys of confab digest --json', () => {
      const json = digestJson(digest);
      expect(Object.keys(json)).toEqual([
        'period',
        'analyses',
        'explanations_voted',
        'votes',
        'reviewers',
        'items_closed',
        'confabulation_rate',
        'alpha',
        'decoys',
        'contested',
        'signals',
        'fve_nrm',
        'dataset',
      ]);
      expect(json.period).toEqual({ start: '2026-11-23T00:00:00.000Z', end: '2026-11-30T00:00:00.000Z', label: '2026-W48' });
      expect(Object.keys(json.confabulation_rate)).toEqual(['value', 'low', 'high', 'n']);
      expect(Object.keys(json.signals[0])).toEqual(['name', 'auroc', 'low', 'high', 'n']);
      expect(Object.keys(json.fve_nrm.sae)).toEqual(['median', 'q1', 'q3']);
      expect(json.dataset).toEqual({ rows: 6 });
      expect(JSON.parse(JSON.stringify(json))).toEqual(json);
    });

    it('never names a reviewer', () => {
      const text = JSON.stringify(digestJson(digest)) + digestLines(digest).join('\n');
      expect(text).not.toMatch(/Reviewer \d|user\d/);
    });

    it('gives a short "nothing was reviewed" digest for an empty week', async () => {
      const empty = await loadDigest(database.db, seed.workspaceId, parseIsoWeek('2026-W40', 'UTC'));
      expect(empty.empty).toBe(true);
      expect(empty).toMatchObject({ analyses: 0, votes: 0, reviewers: 0, itemsClosed: 0, alpha: null, confabulationRate: null, contested: [] });
      expect(digestLines(empty)[0]).toBe('Nothing was reviewed in 2026-W40: no analyses, no votes, no items closed.');
      expect(digestJson(empty).confabulation_rate).toEqual({ value: null, low: null, high: null, n: 0 });
      expect(digestJson(empty).fve_nrm).toEqual({ sae: { median: null, q1: null, q3: null }, nla: { median: null, q1: null, q3: null } });
    });

    it('counts as active only the reviewers who voted in the period and in the workspace', async () => {
      // W47: E5's three votes, by reviewers 1, 2 and 3. W49: reviewer 1's late vote on E6.
      expect(await loadDigest(database.db, seed.workspaceId, parseIsoWeek('2026-W47', 'UTC'))).toMatchObject({ votes: 3, reviewers: 3 });
      expect(await loadDigest(database.db, seed.workspaceId, parseIsoWeek('2026-W49', 'UTC'))).toMatchObject({ votes: 1, reviewers: 1 });
      // W50: a reviewer first seen in the other workspace votes here; it counts here, not there.
      const [other] = await database.db.select({ id: reviewers.id }).from(reviewers).where(eq(reviewers.userId, 'guild-other-user1'));
      const [otherWorkspace] = await database.db.select({ id: workspaces.id }).from(workspaces).where(eq(workspaces.externalId, 'guild-other'));
      const at = new Date(Date.UTC(2026, 11, 8, 12));
      await database.db.insert(votes).values({ explanationId: seed.ids.E6, reviewerId: other.id, label: 'unsure', createdAt: at, updatedAt: at });
      expect(await loadDigest(database.db, seed.workspaceId, parseIsoWeek('2026-W50', 'UTC'))).toMatchObject({ votes: 1, reviewers: 1 });
      expect(await loadDigest(database.db, otherWorkspace.id, parseIsoWeek('2026-W50', 'UTC'))).toMatchObject({ votes: 0, reviewers: 0 });
    });

    it('reads weeks in the workspace time zone', async () => {
      // In Pacific/Auckland (UTC+13 in November) W48 starts on Sunday 22 November, 11:00 UTC.
      const auckland = await loadDigest(database.db, seed.workspaceId, parseIsoWeek('2026-W48', 'Pacific/Auckland'));
      expect(auckland.period.start.toISOString()).toBe('2026-11-22T11:00:00.000Z');
      // E6's vote at 2026-11-29 12:00 UTC is Monday 30 November there: the next week.
      expect(auckland.votes).toBe(15);
    });
  });
}
