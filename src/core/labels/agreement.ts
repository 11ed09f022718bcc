/**
 * Chance-corrected agreement between reviewers: Krippendorff's alpha (nominal, missing data
 * allowed) and Fleiss' kappa (only defined when every item has the same number of ratings).
 */
import { itemLabelCounts, type VoteTable } from './vote-table';

export interface AlphaResult {
  /** Null when undefined: no item with two or more votes, or no variation at all (0/0). */
  alpha: number | null;
  /** Items with at least two decisive votes (the only ones alpha can use). */
  pairableItems: number;
  /** Decisive votes in pairable items (Krippendorff's n). */
  pairableValues: number;
}

/**
 * Krippendorff's alpha for nominal data, from per-item label counts:
 *   alpha = 1 − (n − 1) · Σ_u (m_u² − Σ_c n_uc²)/(m_u − 1)  /  (n² − Σ_c n_c²)
 * where m_u is the number of values in unit u (units with m_u < 2 are dropped), n_uc the count of
 * value c in u, n_c = Σ_u n_uc and n = Σ_u m_u. This is 1 − D_o/D_e with the coincidence-matrix
 * sums of Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", written per unit so
 * no K×K matrix or pair enumeration is needed.
 */
export function krippendorffAlphaFromCounts(counts: ArrayLike<number>, K: number): AlphaResult {
  const nItems = K === 0 ? 0 : counts.length / K;
  const valueTotals = new Float64Array(K);
  let n = 0;
  let pairableItems = 0;
  let observedDisagreement = 0;
  for (let u = 0; u < nItems; u++) {
    let m = 0;
    let squares = 0;
    for (let c = 0; c < K; c++) {
      const x = counts[u * K + c];
      m += x;
      squares += x * x;
    }
    if (m < 2) continue;
    pairableItems++;
    n += m;
    for (let c = 0; c < K; c++) valueTotals[c] += counts[u * K + c];
    observedDisagreement += (m * m - squares) / (m - 1);
  }
  let totalSquares = 0;
  for (let c = 0; c < K; c++) totalSquares += valueTotals[c] * valueTotals[c];
  const expectedDisagreement = n * n - totalSquares;
  if (pairableItems === 0 || expectedDisagreement === 0) return { alpha: null, pairableItems, pairableValues: n };
  return { alpha: 1 - ((n - 1) * observedDisagreement) / expectedDisagreement, pairableItems, pairableValues: n };
}

export function krippendorffAlpha(table: VoteTable): AlphaResult {
  return krippendorffAlphaFromCounts(itemLabelCounts(table), table.classes.length);
}

export type KappaResult =
  | { applicable: true; kappa: number; raters: number; items: number; observed: number; expected: number }
  | { applicable: false; reason: string };

/**
 * Fleiss (1971), "Measuring nominal scale agreement among many raters", Psychological Bulletin
 * 76(5):378–382. Items with no decisive votes are left out; the rest must all have the same
 * count n ≥ 2, otherwise the statistic is not defined and we say so rather than quietly
 * dropping items (Krippendorff's alpha is the coefficient for unequal counts).
 */
export function fleissKappaFromCounts(counts: ArrayLike<number>, K: number): KappaResult {
  const nItems = K === 0 ? 0 : counts.length / K;
  let raters = -1;
  let items = 0;
  const categoryTotals = new Float64Array(K);
  let observedSum = 0;
  let minRaters = Infinity;
  let maxRaters = 0;
  for (let i = 0; i < nItems; i++) {
    let m = 0;
    let squares = 0;
    for (let c = 0; c < K; c++) {
      const x = counts[i * K + c];
      m += x;
      squares += x * x;
    }
    if (m === 0) continue;
    if (m < minRaters) minRaters = m;
    if (m > maxRaters) maxRaters = m;
    raters = m;
    items++;
    for (let c = 0; c < K; c++) categoryTotals[c] += counts[i * K + c];
    observedSum += (squares - m) / (m * (m - 1));
  }
  if (items === 0) return { applicable: false, reason: 'no item has a decisive vote' };
  if (minRaters !== maxRaters) {
    return { applicable: false, reason: `items have unequal rater counts (${minRaters} to ${maxRaters})` };
  }
  if (raters < 2) return { applicable: false, reason: 'each item has a single rating' };
  const observed = observedSum / items;
  let expected = 0;
  for (let c = 0; c < K; c++) {
    const p = categoryTotals[c] / (items * raters);
    expected += p * p;
  }
  if (expected === 1) return { applicable: false, reason: 'every rating is the same label (chance agreement is 1)' };
  return { applicable: true, kappa: (observed - expected) / (1 - expected), raters, items, observed, expected };
}

export function fleissKappa(table: VoteTable): KappaResult {
  return fleissKappaFromCounts(itemLabelCounts(table), table.classes.length);
}
