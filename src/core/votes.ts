/**
 * Votes: one per reviewer and explanation, changeable until the item closes. Every vote runs in
 * one transaction that first locks the explanation row, so concurrent votes on one item (from
 * several bot processes too) are counted one after another and close it exactly once.
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../../db';
import { explanations, voteHistory, votes, type MarkedClaim } from '../../db/schema';
import { splitClaims } from './claims';
import { DomainError, notFound } from './errors';
import type { ActorIds } from './identity';
import type { SettingsStore } from './settings';
import type { VoteAckView, VoteLabel } from './view';

export interface VoteInput {
  explanationId: number;
  label: VoteLabel;
  /** Undefined leaves an existing note as it is; '' clears it. */
  note?: string;
  /** 1-based claim numbers the reviewer marks as wrong; undefined leaves existing marks. */
  markedClaims?: number[];
}

function resolveClaims(explanationId: number, text: string, numbers: number[]): MarkedClaim[] {
  const claims = splitClaims(text);
  const unique = [...new Set(numbers)].sort((a, b) => a - b);
  for (const n of unique) {
    if (!Number.isInteger(n) || n < 1 || n > claims.length) {
      throw new DomainError(
        'unknown_claim',
        `Claim ${n} does not exist: explanation #${explanationId} has ${claims.length} claim${claims.length === 1 ? '' : 's'} (1-${claims.length}).`,
      );
    }
  }
  return unique.map((index) => ({ index, text: claims[index - 1] }));
}

const sameClaims = (a: MarkedClaim[], b: MarkedClaim[]) => a.length === b.length && a.every((c, i) => c.index === b[i].index);

function counterColumn(label: VoteLabel) {
  return label === 'faithful' ? 'faithfulVotes' : label === 'confabulated' ? 'confabulatedVotes' : 'unsureVotes';
}

export async function castVote(db: Db, settingsStore: SettingsStore, who: ActorIds, input: VoteInput): Promise<VoteAckView> {
  return db.transaction(async (tx) => {
    const [item] = await tx.select().from(explanations).where(eq(explanations.id, input.explanationId)).for('update');
    if (!item || item.workspaceId !== who.workspaceId) throw notFound('Explanation', input.explanationId);

    const marked = input.markedClaims === undefined ? undefined : resolveClaims(item.id, item.text, input.markedClaims);
    const note = input.note === undefined ? undefined : input.note.trim() === '' ? null : input.note.trim();
    const [existing] = await tx
      .select()
      .from(votes)
      .where(and(eq(votes.explanationId, item.id), eq(votes.reviewerId, who.reviewerId)));

    const tally = { faithful: item.faithfulVotes, confabulated: item.confabulatedVotes, unsure: item.unsureVotes };
    const ack = (change: VoteAckView['change'], state: 'open' | 'closed', closedNow: boolean, finalNote: string | null, finalClaims: MarkedClaim[], previous?: VoteLabel): VoteAckView => ({
      kind: 'vote-ack',
      explanationId: item.id,
      myVote: input.label,
      change,
      ...(previous ? { previous } : {}),
      tally,
      closedNow,
      state,
      ...(finalNote ? { note: finalNote } : {}),
      ...(finalClaims.length > 0 ? { markedClaims: finalClaims.map((c) => c.text) } : {}),
    });

    // A second click on the same button is answered as if it were the first: nothing changes,
    // even when the item has closed in between.
    if (
      existing &&
      existing.label === input.label &&
      (note === undefined || note === existing.note) &&
      (marked === undefined || sameClaims(marked, existing.markedClaims))
    ) {
      return ack('unchanged', item.state, false, existing.note, existing.markedClaims);
    }
    if (item.state === 'closed') {
      const why = item.closedReason === 'admin' ? 'an admin closed it' : `it reached its decisive votes`;
      throw new DomainError('item_closed', `Explanation #${item.id} is closed (${why}); votes are no longer accepted. Use /review for an open item.`);
    }

    const finalNote = note === undefined ? (existing?.note ?? null) : note;
    const finalClaims = marked ?? existing?.markedClaims ?? [];
    let voteId: number;
    if (existing) {
      await tx
        .update(votes)
        .set({ label: input.label, note: finalNote, markedClaims: finalClaims, updatedAt: sql`now()` })
        .where(eq(votes.id, existing.id));
      voteId = existing.id;
    } else {
      const [row] = await tx
        .insert(votes)
        .values({ explanationId: item.id, reviewerId: who.reviewerId, label: input.label, note: finalNote, markedClaims: finalClaims })
        .returning({ id: votes.id });
      voteId = row.id;
    }
    await tx.insert(voteHistory).values({
      voteId,
      explanationId: item.id,
      reviewerId: who.reviewerId,
      label: input.label,
      previousLabel: existing?.label ?? null,
      note: finalNote,
      markedClaims: finalClaims,
    });

    const counts = { faithfulVotes: item.faithfulVotes, confabulatedVotes: item.confabulatedVotes, unsureVotes: item.unsureVotes };
    if (existing) counts[counterColumn(existing.label)] -= 1;
    counts[counterColumn(input.label)] += 1;
    const decisiveVotes = counts.faithfulVotes + counts.confabulatedVotes;
    const { votes_to_close } = await settingsStore.get(tx, item.workspaceId);
    const closesNow = decisiveVotes >= votes_to_close;
    await tx
      .update(explanations)
      .set({
        ...counts,
        decisiveVotes,
        ...(closesNow ? { state: 'closed' as const, closedReason: 'votes', closedAt: sql`now()` } : {}),
      })
      .where(eq(explanations.id, item.id));

    tally.faithful = counts.faithfulVotes;
    tally.confabulated = counts.confabulatedVotes;
    tally.unsure = counts.unsureVotes;
    const change = existing ? 'changed' : 'recorded';
    return ack(change, closesNow ? 'closed' : 'open', closesNow, finalNote, finalClaims, existing?.label);
  });
}
