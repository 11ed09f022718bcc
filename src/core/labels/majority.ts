/**
 * Majority vote per item. Ignored labels (`unsure`) never reach the table, so they neither win
 * nor break ties; an item whose top count is shared by two or more classes is undecided.
 */
import { itemLabelCounts, type VoteTable } from './vote-table';

/** Class code used for "no majority": a tie, or no decisive vote at all. */
export const UNDECIDED = -1;

export interface MajorityResult {
  /** Per item: the winning class code, or UNDECIDED. */
  label: Int32Array;
  /** Per item: number of decisive votes. */
  decisiveVotes: Int32Array;
  /**
   * Per item: share of decisive votes that agree with the most common label (NaN with no
   * votes). 1 means unanimous; 0.5 a 2-class tie.
   */
  agreement: Float64Array;
  /** Row-major `[item * K + class]` counts. */
  counts: Int32Array;
}

export function majorityVote(table: VoteTable): MajorityResult {
  const K = table.classes.length;
  const nItems = table.itemKeys.length;
  const counts = itemLabelCounts(table);
  const label = new Int32Array(nItems);
  const decisiveVotes = new Int32Array(nItems);
  const agreement = new Float64Array(nItems);
  for (let i = 0; i < nItems; i++) {
    let best = UNDECIDED;
    let bestCount = 0;
    let tied = false;
    let total = 0;
    for (let k = 0; k < K; k++) {
      const c = counts[i * K + k];
      total += c;
      if (c > bestCount) {
        best = k;
        bestCount = c;
        tied = false;
      } else if (c === bestCount && c > 0) {
        tied = true;
      }
    }
    label[i] = tied ? UNDECIDED : best;
    decisiveVotes[i] = total;
    agreement[i] = total === 0 ? Number.NaN : bestCount / total;
  }
  return { label, decisiveVotes, agreement, counts };
}

/** Majority of a handful of label strings, for one item (e.g. when closing it). */
export function majorityOf(labels: readonly string[], ignored: readonly string[] = ['unsure']): string | null {
  const counts = new Map<string, number>();
  for (const l of labels) if (!ignored.includes(l)) counts.set(l, (counts.get(l) ?? 0) + 1);
  let best: string | null = null;
  let bestCount = 0;
  let tied = false;
  for (const [l, c] of counts) {
    if (c > bestCount) {
      best = l;
      bestCount = c;
      tied = false;
    } else if (c === bestCount) {
      tied = true;
    }
  }
  return tied ? null : best;
}
