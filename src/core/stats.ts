/**
 * Workspace statistics for /stats. Item counts and the confabulation rate (a Wilson interval)
 * cover real explanations only; decoys show up in the decoy catch rate line.
 */
import { sql } from 'drizzle-orm';
import { queryRows, type Queryable } from '../../db';
import { wilsonInterval } from './labels/intervals';
import { loadLabelStatsLines } from './labels/stats-extra';
import type { StatsView } from './view';

export async function workspaceStats(db: Queryable, workspaceId: number, scope: string): Promise<StatsView> {
  const [r] = await queryRows<Record<string, number>>(db, sql`
    select
      (select count(*) from analyses where workspace_id = ${workspaceId})::int as analyses,
      (select count(*) from explanations where workspace_id = ${workspaceId} and source = 'nla')::int as explanations,
      (select count(*) from explanations where workspace_id = ${workspaceId} and source = 'nla' and state = 'open')::int as open_items,
      (select count(*) from explanations where workspace_id = ${workspaceId} and source = 'nla' and state = 'closed')::int as closed_items,
      (select count(*) from explanations where workspace_id = ${workspaceId} and source = 'nla' and state = 'closed'
         and confabulated_votes > faithful_votes)::int as closed_confabulated,
      (select count(*) from explanations where workspace_id = ${workspaceId} and source = 'nla' and state = 'closed'
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
    // Agreement (Krippendorff's alpha, Fleiss' kappa), the decoy catch rate, and each
    // automatic signal's AUROC against the human labels, with its interval.
    extra: await loadLabelStatsLines(db, workspaceId),
  };
}
