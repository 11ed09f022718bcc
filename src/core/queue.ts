/**
 * The review queue: the open item most worth this reviewer's vote. Here: the fewest decisive
 * votes first, oldest first among equals, never one the reviewer has voted on.
 */
import { and, asc, eq, notExists, sql } from 'drizzle-orm';
import type { Queryable } from '../../db';
import { analyses, explanations, votes } from '../../db/schema';
import type { ActorIds } from './identity';
import { loadAnalysisView } from './views';
import type { ReviewItemView } from './view';

export async function nextReviewItem(db: Queryable, who: ActorIds): Promise<ReviewItemView | null> {
  const [next] = await db
    .select({ id: explanations.id, analysisId: explanations.analysisId })
    .from(explanations)
    .innerJoin(analyses, eq(analyses.id, explanations.analysisId))
    .where(
      and(
        eq(explanations.workspaceId, who.workspaceId),
        eq(explanations.state, 'open'),
        eq(analyses.status, 'done'),
        notExists(
          db
            .select({ one: sql`1` })
            .from(votes)
            .where(and(eq(votes.explanationId, explanations.id), eq(votes.reviewerId, who.reviewerId))),
        ),
      ),
    )
    .orderBy(asc(explanations.decisiveVotes), asc(explanations.id))
    .limit(1);
  if (!next) return null;
  const analysis = await loadAnalysisView(db, next.analysisId, who.reviewerId);
  for (const position of analysis.positions) {
    const explanation = position.explanations.find((e) => e.explanationId === next.id);
    if (explanation) return { kind: 'review-item', analysis, position, explanation };
  }
  return null;
}
