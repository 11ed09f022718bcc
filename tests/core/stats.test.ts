/**
 * /stats on a seeded database: each line says which items it counts, because the
 * confabulation rate (closed items) and the agreement and AUROC lines (every item with a
 * majority label, open or closed) count different sets.
 */
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../db';
import { explanations } from '../../db/schema';
import { workspaceStats } from '../../src/core/stats';
import type { StatsView } from '../../src/core/view';
import { renderView } from '../../src/platforms/terminal/render';
import { createTestDatabase, type TestDatabase } from '../db/support';
import { seedDigestHistory } from '../digest/seed';

describe('/stats names the items behind each figure', () => {
  let testDb: TestDatabase;
  let database: Database;
  let stats: StatsView;

  beforeAll(async () => {
    testDb = await createTestDatabase('pglite');
    database = await openDatabase(testDb.target);
    const seed = await seedDigestHistory(database.db);
    // E6 is open; give it a faithful majority so that the labelled set is larger than the closed one.
    await database.db
      .update(explanations)
      .set({ faithfulVotes: 2, confabulatedVotes: 1, decisiveVotes: 3 })
      .where(eq(explanations.id, seed.ids.E6));
    stats = await workspaceStats(database.db, seed.workspaceId, 'workspace');
  }, 180_000);
  afterAll(async () => {
    await database?.close();
    await testDb?.drop();
  });

  it('the rate counts closed items with a majority: E1, E2, E4, E5 (E3 tied)', () => {
    expect(stats.closedItems).toBe(5);
    expect(stats.confabulationRate).toMatchObject({ rate: 0.5, n: 4 });
  });

  it('the AUROC lines count labelled items, open ones included, per signal', () => {
    const line = (label: string) => stats.extra.find((l) => l.label === label)?.value;
    // AR: E1, E2, E4, E5 closed and E6 open (E3 tied; the decoy is left out) = 5 items.
    expect(line('AUROC, AR round trip (fve_nrm)')).toMatch(/ over 5 items with a majority label and this signal, open or closed: 3 faithful vs 2 confabulated$/);
    // Only E1 and E2 carry the overlap signal.
    expect(line('AUROC, SAE feature-label overlap')).toMatch(/ over 2 items with a majority label and this signal, open or closed: 1 faithful vs 1 confabulated$/);
    // Items with two or more decisive votes: E1–E6.
    expect(line("Krippendorff's alpha")).toMatch(/ over 6 items with two or more votes, open or closed$/);
  });

  it('the rendered rate line says it covers closed items', () => {
    const out = renderView(stats, { color: false });
    expect(out).toContain('Confabulation rate');
    expect(out).toMatch(/50\.0% \(95% CI [\d.]+%–[\d.]+%\) over 4 closed items with a majority label/);
  });
});
