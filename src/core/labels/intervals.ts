/**
 * Rates and rankings with their uncertainty: the Wilson score interval for a proportion and the
 * AUROC of a numeric score with the Hanley–McNeil interval.
 */

/** Two-sided 95% normal quantile. */
export const Z95 = 1.959963984540054;

export interface RateInterval {
  rate: number;
  low: number;
  high: number;
  n: number;
}

/**
 * Wilson (1927) score interval, without continuity correction (Newcombe 1998, method 3):
 *   (p + z²/2n ± z·sqrt(p(1−p)/n + z²/4n²)) / (1 + z²/n)
 * Chosen over the Wald interval because it stays inside [0, 1] and keeps its coverage at the
 * small n a weekly digest sees (a handful of closed items). Null when n = 0.
 */
export function wilsonInterval(successes: number, n: number, z = Z95): RateInterval | null {
  if (!Number.isInteger(successes) || !Number.isInteger(n) || successes < 0 || successes > n) {
    throw new RangeError(`Wilson interval needs whole numbers 0 ≤ successes ≤ n; got ${successes} of ${n}.`);
  }
  if (n === 0) return null;
  const p = successes / n;
  const z2 = z * z;
  const denominator = 1 + z2 / n;
  const centre = p + z2 / (2 * n);
  const half = z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // At p = 0 or 1 the bound is exactly 0 or 1; clamp away floating-point dust.
  const low = successes === 0 ? 0 : Math.max(0, (centre - half) / denominator);
  const high = successes === n ? 1 : Math.min(1, (centre + half) / denominator);
  return { rate: p, low, high, n };
}

export interface AurocResult {
  /** P(score of a random positive > score of a random negative), ties counted half. */
  auroc: number;
  /** Hanley & McNeil (1982) standard error. */
  se: number;
  low: number;
  high: number;
  positives: number;
  negatives: number;
  /** Always 'hanley-mcneil': the interval is auroc ± z·SE, clipped to [0, 1]. */
  interval: 'hanley-mcneil';
}

/**
 * AUROC as the Mann–Whitney statistic U / (n₊ n₋), computed from mid-ranks so tied scores
 * count one half (the trapezoidal ROC area). The interval is Hanley & McNeil (1982),
 * "The meaning and use of the area under a ROC curve", Radiology 143:29–36, eq. (1)–(2):
 *   SE² = (A(1−A) + (n₊−1)(Q₁−A²) + (n₋−1)(Q₂−A²)) / (n₊ n₋),  Q₁ = A/(2−A), Q₂ = 2A²/(1+A).
 * It is a normal approximation under an exponential model and is known to be slightly
 * conservative near A = 0.5 and optimistic near 1 for tiny samples; for the digest's purpose (is
 * a signal clearly better than chance?) it is adequate and needs no resampling.
 *
 * Null when either class is empty or a score is not finite (such items should be left out by
 * the caller, not silently ranked).
 */
export function auroc(scores: ArrayLike<number>, positive: ArrayLike<boolean | number>, z = Z95): AurocResult | null {
  const n = scores.length;
  if (positive.length !== n) throw new RangeError(`auroc: ${n} scores but ${positive.length} labels.`);
  let positives = 0;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(scores[i])) return null;
    if (positive[i]) positives++;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return null;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => scores[a] - scores[b]);
  // Sum of mid-ranks (1-based) of the positives.
  let rankSum = 0;
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]] === scores[order[i]]) j++;
    const midRank = (i + j) / 2 + 1;
    for (let t = i; t <= j; t++) if (positive[order[t]]) rankSum += midRank;
    i = j + 1;
  }
  const u = rankSum - (positives * (positives + 1)) / 2;
  const a = u / (positives * negatives);
  const q1 = a / (2 - a);
  const q2 = (2 * a * a) / (1 + a);
  const variance = (a * (1 - a) + (positives - 1) * (q1 - a * a) + (negatives - 1) * (q2 - a * a)) / (positives * negatives);
  const se = Math.sqrt(Math.max(0, variance));
  return {
    auroc: a,
    se,
    low: Math.max(0, a - z * se),
    high: Math.min(1, a + z * se),
    positives,
    negatives,
    interval: 'hanley-mcneil',
  };
}
