/**
 * The review queue's decisions, as pure functions the queue (src/core/queue.ts) and the vote
 * transaction call: when an item closes, which open item is most worth a reviewer's vote, the
 * soft lock that spreads concurrent reviewers over different items, and when and what to serve
 * as a decoy.
 */

// ---------------------------------------------------------------------------------------------
// Item lifecycle
// ---------------------------------------------------------------------------------------------

export interface ClosePolicy {
  /** Decisive votes at which an item may close (CONFAB_VOTES_TO_CLOSE, default 3). */
  votesToClose: number;
  /** Posterior the leading label must reach to close at votesToClose. Default 0.8. */
  posteriorThreshold?: number;
  /** A contested item closes anyway at this many decisive votes. Default 2 × votesToClose + 1. */
  maxVotes?: number;
}

export type CloseDecision =
  | { close: false; reason: 'needs_votes' | 'low_agreement'; posterior: number }
  | { close: true; reason: 'votes' | 'max_votes'; label: 'faithful' | 'confabulated' | 'undecided'; posterior: number };

/**
 * Posterior that the leading label is right, from the counts alone: with a uniform Beta(1, 1)
 * prior on the share of reviewers choosing the leading label, P(share > 1/2 | votes). Exact for
 * integer counts via the binomial identity P(Beta(a, b) ≤ x) = P(Binomial(a + b − 1, x) ≥ a):
 *   P(Beta(a, b) > 1/2) = P(Binomial(a + b − 1, 1/2) ≤ a − 1),  a = lead + 1, b = trail + 1.
 * 3–0 gives 0.94, 2–1 gives 0.69, 4–1 gives 0.89: unanimity at the default three votes closes,
 * a split asks for more.
 */
export function leadPosterior(faithful: number, confabulated: number): number {
  const a = Math.max(faithful, confabulated) + 1;
  const b = Math.min(faithful, confabulated) + 1;
  const n = a + b - 1;
  // P(Binomial(n, 1/2) <= a - 1), summed in log space so large n neither overflows nor underflows.
  let logC = 0; // log C(n, 0)
  let total = 0;
  const logHalfN = -n * Math.LN2;
  for (let k = 0; k <= n; k++) {
    if (k > 0) logC += Math.log(n - k + 1) - Math.log(k);
    if (k <= a - 1) total += Math.exp(logC + logHalfN);
  }
  return faithful === confabulated ? 0.5 : total;
}

/** Decides whether an item closes after a vote; the caller closes it in the same transaction. */
export function closeDecision(faithful: number, confabulated: number, policy: ClosePolicy): CloseDecision {
  const threshold = policy.posteriorThreshold ?? 0.8;
  const maxVotes = policy.maxVotes ?? 2 * policy.votesToClose + 1;
  const decisive = faithful + confabulated;
  const posterior = leadPosterior(faithful, confabulated);
  const label = faithful > confabulated ? 'faithful' : confabulated > faithful ? 'confabulated' : 'undecided';
  if (decisive < policy.votesToClose) return { close: false, reason: 'needs_votes', posterior };
  if (posterior >= threshold && label !== 'undecided') return { close: true, reason: 'votes', label, posterior };
  if (decisive >= maxVotes) return { close: true, reason: 'max_votes', label, posterior };
  return { close: false, reason: 'low_agreement', posterior };
}

// ---------------------------------------------------------------------------------------------
// Ordering and soft locks
// ---------------------------------------------------------------------------------------------

export interface QueueCandidate {
  explanationId: number;
  faithfulVotes: number;
  confabulatedVotes: number;
  /** Optional Dawid–Skene P(confabulated); preferred over the count-based estimate when known. */
  pConfabulated?: number | null;
  createdAt: Date;
}

/**
 * Uncertainty in [0, 1]: 1 − |2p − 1| where p is P(confabulated), from Dawid–Skene when known,
 * else the Laplace-smoothed vote share (c + 1)/(f + c + 2). An unvoted item is maximally
 * uncertain; a 3–0 item scores 0.4; a 2–2 item 1.
 */
export function uncertainty(c: Pick<QueueCandidate, 'faithfulVotes' | 'confabulatedVotes' | 'pConfabulated'>): number {
  const p =
    c.pConfabulated !== undefined && c.pConfabulated !== null
      ? c.pConfabulated
      : (c.confabulatedVotes + 1) / (c.faithfulVotes + c.confabulatedVotes + 2);
  return 1 - Math.abs(2 * p - 1);
}

/**
 * Queue order: fewest decisive votes first, then the most uncertain, then the oldest. Items
 * soft-locked by another reviewer go last (not away: with one open item, two reviewers may
 * still share it).
 */
export function rankCandidates<T extends QueueCandidate>(candidates: readonly T[], isLockedByOther: (explanationId: number) => boolean = () => false): T[] {
  const keyed = candidates.map((c) => ({
    c,
    locked: isLockedByOther(c.explanationId) ? 1 : 0,
    decisive: c.faithfulVotes + c.confabulatedVotes,
    u: uncertainty(c),
    t: c.createdAt.getTime(),
  }));
  keyed.sort((x, y) => x.locked - y.locked || x.decisive - y.decisive || y.u - x.u || x.t - y.t || x.c.explanationId - y.c.explanationId);
  return keyed.map((k) => k.c);
}

/**
 * A short soft lock per item: "reviewer R is looking at item E until T". In-process; the lock
 * is advisory (a vote is never refused for it), so losing it on restart is harmless. With
 * several bot processes, store the same pair in the database (see the report of issue 5) and
 * pass `isLockedByOther` from there.
 */
export class SoftLocks {
  private readonly locks = new Map<number, { reviewerId: number; until: number }>();

  constructor(
    private readonly ttlMs = 120_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes (or refreshes) the lock on an item for a reviewer; false if another holds it. */
  take(explanationId: number, reviewerId: number): boolean {
    const t = this.now();
    const held = this.locks.get(explanationId);
    if (held && held.until > t && held.reviewerId !== reviewerId) return false;
    // A reviewer holds one lock at a time: taking a new item releases the previous one.
    for (const [id, lock] of this.locks) if (lock.reviewerId === reviewerId || lock.until <= t) this.locks.delete(id);
    this.locks.set(explanationId, { reviewerId, until: t + this.ttlMs });
    return true;
  }

  release(explanationId: number, reviewerId: number): void {
    if (this.locks.get(explanationId)?.reviewerId === reviewerId) this.locks.delete(explanationId);
  }

  isLockedByOther(explanationId: number, reviewerId: number): boolean {
    const held = this.locks.get(explanationId);
    return held !== undefined && held.until > this.now() && held.reviewerId !== reviewerId;
  }
}

// ---------------------------------------------------------------------------------------------
// Decoys
// ---------------------------------------------------------------------------------------------

/** Serve a decoy this time? `random` is injectable for tests; rate is CONFAB_DECOY_RATE. */
export function shouldServeDecoy(rate: number, random: () => number = Math.random): boolean {
  if (!(rate >= 0 && rate <= 1)) throw new RangeError(`Decoy rate must be from 0 to 1; got ${rate}.`);
  return random() < rate;
}

export interface DecoySourceCandidate {
  explanationId: number;
  analysisId: number;
  prompt: string;
  model: string | null;
  layer: number | null;
  text: string;
}

/**
 * Picks the explanation whose text a decoy will show on `target`: one from a different
 * analysis whose prompt differs (the same prompt analysed twice would make a true
 * explanation, not a decoy), preferring the same model and layer so the text reads like a
 * plausible explanation; then uniformly at random. Null when no candidate qualifies.
 */
export function pickDecoySource<T extends DecoySourceCandidate>(
  target: { analysisId: number; prompt: string; model: string | null; layer: number | null; text?: string },
  candidates: readonly T[],
  random: () => number = Math.random,
): T | null {
  const eligible = candidates.filter((c) => c.analysisId !== target.analysisId && c.prompt !== target.prompt && c.text !== target.text);
  if (eligible.length === 0) return null;
  const sameModel = eligible.filter((c) => c.model === target.model && c.layer === target.layer);
  const pool = sameModel.length > 0 ? sameModel : eligible;
  return pool[Math.min(pool.length - 1, Math.floor(random() * pool.length))];
}
