/**
 * Admin control of an item's state: close it early, or reopen it for more votes. Each change
 * is appended to explanation_state_changes (as the vote function does when votes close one).
 */
import { eq, sql } from 'drizzle-orm';
import type { Db, Tx } from '../../db';
import { explanations, explanationStateChanges } from '../../db/schema';
import { DomainError, notFound } from './errors';
import type { ActorIds } from './identity';
import type { ItemStateView } from './view';
import { majorityOutcome } from './votes';

type ExplanationRow = typeof explanations.$inferSelect;

async function changeState(db: Db, who: ActorIds, explanationId: number, apply: (tx: Tx, item: ExplanationRow) => Promise<void>): Promise<ItemStateView> {
  return db.transaction(async (tx) => {
    const [item] = await tx.select().from(explanations).where(eq(explanations.id, explanationId)).for('update');
    if (!item || item.workspaceId !== who.workspaceId) throw notFound('Explanation', explanationId);
    await apply(tx, item);
    const [after] = await tx.select().from(explanations).where(eq(explanations.id, explanationId));
    await tx.insert(explanationStateChanges).values({
      explanationId,
      state: after.state,
      reason: 'admin',
      changedBy: who.reviewerId,
      faithfulVotes: after.faithfulVotes,
      confabulatedVotes: after.confabulatedVotes,
    });
    return {
      explanationId,
      analysisId: after.analysisId,
      state: after.state,
      ...(after.state === 'closed' ? { closedReason: after.closedReason ?? 'admin', outcome: majorityOutcome(after.faithfulVotes, after.confabulatedVotes) } : {}),
      tally: { faithful: after.faithfulVotes, confabulated: after.confabulatedVotes, unsure: after.unsureVotes },
    };
  });
}

export async function closeItem(db: Db, who: ActorIds, explanationId: number): Promise<ItemStateView> {
  return changeState(db, who, explanationId, async (tx, item) => {
    if (item.state === 'closed') throw new DomainError('already_closed', `Explanation #${explanationId} is already closed.`);
    await tx
      .update(explanations)
      .set({ state: 'closed', closedReason: 'admin', closedAt: sql`now()`, closedBy: who.reviewerId })
      .where(eq(explanations.id, explanationId));
  });
}

/**
 * Reopens a closed item. Its votes stay; the next decisive vote applies the close policy again
 * (so a reopened 3–0 item closes on its next vote).
 */
export async function reopenItem(db: Db, who: ActorIds, explanationId: number): Promise<ItemStateView> {
  return changeState(db, who, explanationId, async (tx, item) => {
    if (item.state === 'open') throw new DomainError('already_open', `Explanation #${explanationId} is open already.`);
    await tx
      .update(explanations)
      .set({ state: 'open', closedReason: null, closedAt: null, closedBy: null })
      .where(eq(explanations.id, explanationId));
  });
}

