/**
 * Votes: one per reviewer and explanation, changeable until the item closes, every change kept
 * in vote_history. `unsure` is recorded but is not decisive. Whether a vote closes its item is
 * decided in SQL, by the vote function (see castVote).
 */
import { eq, sql } from 'drizzle-orm';
import { queryRows, type Db } from '../../db';
import { explanations, type MarkedClaim } from '../../db/schema';
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

export function majorityOutcome(faithful: number, confabulated: number): 'faithful' | 'confabulated' | 'undecided' {
  return faithful > confabulated ? 'faithful' : confabulated > faithful ? 'confabulated' : 'undecided';
}

/** Posterior the leading label must reach for an item to close. */
export const POSTERIOR_THRESHOLD = 0.8;

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

interface CastVoteOutcome {
  outcome: 'not_found' | 'closed' | 'unchanged' | 'recorded' | 'changed';
  previous?: VoteLabel | null;
  state?: 'open' | 'closed';
  closed_now?: boolean;
  closed_reason?: string | null;
  posterior?: number;
  faithful?: number;
  confabulated?: number;
  unsure?: number;
  note?: string | null;
  marked_claims?: MarkedClaim[];
}

/**
 * Casts a vote. The transaction itself is the SQL function `confab_cast_vote`: one round trip
 * per vote, which is what a button click costs on PGlite. It locks the explanation row, so
 * concurrent votes on one item (from several bot processes too) are counted one after another
 * and close the item exactly once.
 *
 * The close rule it applies: at `votes_to_close` decisive votes an item closes when the leading
 * label's posterior (`confab_lead_posterior`) reaches POSTERIOR_THRESHOLD (3–0 does, 2–1 does
 * not); a contested item stays open, and closes anyway at 2 × votes_to_close + 1. The threshold
 * drops to what unanimity reaches at `votes_to_close` when that is less, so votes_to_close = 1
 * means what it says: a single vote closes.
 */
export async function castVote(db: Db, settingsStore: SettingsStore, who: ActorIds, input: VoteInput): Promise<VoteAckView> {
  let marked: MarkedClaim[] | undefined;
  if (input.markedClaims !== undefined) {
    // An explanation's text never changes, so its claims can be read before the vote's lock.
    const [item] = await db
      .select({ text: explanations.text, workspaceId: explanations.workspaceId })
      .from(explanations)
      .where(eq(explanations.id, input.explanationId));
    if (!item || item.workspaceId !== who.workspaceId) throw notFound('Explanation', input.explanationId);
    marked = resolveClaims(input.explanationId, item.text, input.markedClaims);
  }
  const note = input.note === undefined ? undefined : input.note.trim() === '' ? null : input.note.trim();
  const { votes_to_close } = await settingsStore.get(db, who.workspaceId);

  const [row] = await queryRows<{ result: CastVoteOutcome }>(
    db,
    sql`select confab_cast_vote(${input.explanationId}::int, ${who.workspaceId}::int, ${who.reviewerId}::int, ${input.label}::text,
          ${note ?? null}::text, ${note !== undefined}, ${JSON.stringify(marked ?? [])}::jsonb, ${marked !== undefined},
          ${votes_to_close}::int, least(${POSTERIOR_THRESHOLD}::float8, confab_lead_posterior(${votes_to_close}::int, 0)),
          ${2 * votes_to_close + 1}::int) as result`,
  );
  const r = typeof row.result === 'string' ? (JSON.parse(row.result) as CastVoteOutcome) : row.result;
  if (r.outcome === 'not_found') throw notFound('Explanation', input.explanationId);
  if (r.outcome === 'closed') {
    const why = r.closed_reason === 'admin' ? 'an admin closed it' : 'it reached its decisive votes';
    throw new DomainError('item_closed', `Explanation #${input.explanationId} is closed (${why}); votes are no longer accepted. Use /review for an open item.`);
  }
  const claims = r.marked_claims ?? [];
  return {
    kind: 'vote-ack',
    explanationId: input.explanationId,
    myVote: input.label,
    change: r.outcome,
    ...(r.previous ? { previous: r.previous } : {}),
    tally: { faithful: r.faithful ?? 0, confabulated: r.confabulated ?? 0, unsure: r.unsure ?? 0 },
    closedNow: r.closed_now === true,
    state: r.state ?? 'open',
    ...(r.closed_now && r.closed_reason ? { closedReason: r.closed_reason } : {}),
    ...(r.state === 'closed' ? { outcome: majorityOutcome(r.faithful ?? 0, r.confabulated ?? 0) } : {}),
    ...(r.note ? { note: r.note } : {}),
    ...(claims.length > 0 ? { markedClaims: claims.map((c) => c.text) } : {}),
  };
}
