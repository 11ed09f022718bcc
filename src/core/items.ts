/** Admin control of an item's state: close it early, or reopen it for more votes. */
import { eq, sql } from 'drizzle-orm';
import type { Db } from '../../db';
import { explanations } from '../../db/schema';
import { DomainError, notFound } from './errors';
import type { ActorIds } from './identity';

export async function closeItem(db: Db, who: ActorIds, explanationId: number): Promise<void> {
  await db.transaction(async (tx) => {
    const [item] = await tx.select().from(explanations).where(eq(explanations.id, explanationId)).for('update');
    if (!item || item.workspaceId !== who.workspaceId) throw notFound('Explanation', explanationId);
    if (item.state === 'closed') throw new DomainError('already_closed', `Explanation #${explanationId} is already closed.`);
    await tx
      .update(explanations)
      .set({ state: 'closed', closedReason: 'admin', closedAt: sql`now()`, closedBy: who.reviewerId })
      .where(eq(explanations.id, explanationId));
  });
}

/** Reopens a closed item. Its votes stay; the next decisive vote may close it again. */
export async function reopenItem(db: Db, who: ActorIds, explanationId: number): Promise<void> {
  await db.transaction(async (tx) => {
    const [item] = await tx.select().from(explanations).where(eq(explanations.id, explanationId)).for('update');
    if (!item || item.workspaceId !== who.workspaceId) throw notFound('Explanation', explanationId);
    if (item.state === 'open') throw new DomainError('already_open', `Explanation #${explanationId} is open already.`);
    await tx
      .update(explanations)
      .set({ state: 'open', closedReason: null, closedAt: null, closedBy: null })
      .where(eq(explanations.id, explanationId));
  });
}
