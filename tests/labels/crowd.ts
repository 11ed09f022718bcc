/**
 * Seeded synthetic crowds for the label tests and the dataset benchmark: items with a known true
 * class, reviewers with known per-class accuracy (honest, spammers, adversaries).
 */
import { mulberry32 } from '../../src/worker/runtime/av-onnx';

/** mulberry32 (shared with the AV sampler): every run sees the same crowd. */
export { mulberry32 };

export type ReviewerKind = 'honest' | 'spammer' | 'adversary';

export interface SyntheticReviewer {
  kind: ReviewerKind;
  /** Probability of answering the true class (honest/adversary); spammers answer at random. */
  accuracy: number;
}

export interface SyntheticCrowd {
  truth: Int32Array;
  item: Int32Array;
  reviewer: Int32Array;
  label: Int32Array;
  reviewers: SyntheticReviewer[];
}

/**
 * Each item gets `votesPerItem` distinct reviewers drawn uniformly. Classes are 0..K-1 with
 * prevalence `prior`. An honest reviewer answers the truth with `accuracy`, else a uniformly
 * random other class; a spammer answers uniformly at random; an adversary answers the truth
 * with a low `accuracy`.
 */
export function syntheticCrowd(opts: {
  seed: number;
  items: number;
  votesPerItem: number;
  prior: number[];
  reviewers: SyntheticReviewer[];
}): SyntheticCrowd {
  const rand = mulberry32(opts.seed);
  const K = opts.prior.length;
  const nVotes = opts.items * opts.votesPerItem;
  const truth = new Int32Array(opts.items);
  const item = new Int32Array(nVotes);
  const reviewer = new Int32Array(nVotes);
  const label = new Int32Array(nVotes);
  const R = opts.reviewers.length;
  const chosen = new Int32Array(opts.votesPerItem);
  let v = 0;
  for (let i = 0; i < opts.items; i++) {
    let u = rand();
    let c = 0;
    while (c < K - 1 && u >= opts.prior[c]) {
      u -= opts.prior[c];
      c++;
    }
    truth[i] = c;
    for (let s = 0; s < opts.votesPerItem; s++) {
      let j: number;
      do {
        j = Math.floor(rand() * R);
      } while (chosen.subarray(0, s).includes(j));
      chosen[s] = j;
      const r = opts.reviewers[j];
      let answer: number;
      if (r.kind === 'spammer') answer = Math.floor(rand() * K);
      else if (rand() < r.accuracy) answer = c;
      else answer = (c + 1 + Math.floor(rand() * (K - 1))) % K;
      item[v] = i;
      reviewer[v] = j;
      label[v] = answer;
      v++;
    }
  }
  return { truth, item, reviewer, label, reviewers: opts.reviewers };
}
