/** Workspace statistics for /stats. */
import { sql } from 'drizzle-orm';
import { queryRows, type Queryable } from '../../db';
import { krippendorffAlphaFromCounts } from './labels/agreement';
import { wilsonInterval } from './labels/intervals';
import type { StatsView } from './view';

export async function workspaceStats(db: Queryable, workspaceId: number, scope: string): Promise<StatsView> {
  const [r] = await queryRows<Record<string, number>>(db, sql`
    select
      (select count(*) from analyses where workspace_id = ${workspaceId})::int as analyses,
      (select count(*) from explanations where workspace_id = ${workspaceId})::int as explanations,
      (select count(*) from explanations where workspace_id = ${workspaceId} and state = 'open')::int as open_items,
      (select count(*) from explanations where workspace_id = ${workspaceId} and state = 'closed')::int as closed_items,
      (select count(*) from explanations where workspace_id = ${workspaceId} and state = 'closed'
         and confabulated_votes > faithful_votes)::int as closed_confabulated,
      (select count(*) from explanations where workspace_id = ${workspaceId} and state = 'closed'
         and confabulated_votes <> faithful_votes)::int as closed_decided,
      (select count(*) from votes v join explanations e on e.id = v.explanation_id where e.workspace_id = ${workspaceId})::int as votes,
      (select count(distinct v.reviewer_id) from votes v join explanations e on e.id = v.explanation_id
         where e.workspace_id = ${workspaceId})::int as reviewers
  `);
  // Ties (undecided outcomes) are left out of the rate: they are neither label.
  const n = Number(r.closed_decided);
  const confabulated = Number(r.closed_confabulated);
  return {
    kind: 'stats',
    scope,
    analyses: Number(r.analyses),
    explanations: Number(r.explanations),
    votes: Number(r.votes),
    reviewers: Number(r.reviewers),
    openItems: Number(r.open_items),
    closedItems: Number(r.closed_items),
    confabulationRate: wilsonInterval(confabulated, n),
    extra: [await agreementLine(db, workspaceId)],
  };
}

/**
 * Krippendorff's alpha (nominal) over the decisive votes, from each item's vote counters: only
 * items with two or more decisive votes can show agreement or disagreement.
 */
async function agreementLine(db: Queryable, workspaceId: number): Promise<{ label: string; value: string }> {
  const rows = await queryRows<{ f: number; c: number }>(
    db,
    sql`select faithful_votes as f, confabulated_votes as c from explanations where workspace_id = ${workspaceId} and decisive_votes >= 2`,
  );
  const counts = new Int32Array(rows.length * 2);
  rows.forEach((r, i) => {
    counts[2 * i] = Number(r.f);
    counts[2 * i + 1] = Number(r.c);
  });
  const { alpha, pairableItems } = krippendorffAlphaFromCounts(counts, 2);
  const label = "Agreement (Krippendorff's alpha)";
  if (alpha === null) {
    return { label, value: pairableItems === 0 ? 'not yet: no item has two decisive votes' : `undefined: all ${pairableItems} items got one label` };
  }
  return { label, value: `${alpha.toFixed(2)} over ${pairableItems} item${pairableItems === 1 ? '' : 's'}` };
}
