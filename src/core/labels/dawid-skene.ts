/**
 * Dawid & Skene (1979), "Maximum Likelihood Estimation of Observer Error-Rates Using the EM
 * Algorithm", Applied Statistics 28(1):20–28.
 *
 * Model: each item i has a true class z_i ~ Categorical(p). Reviewer j, shown an item of class k,
 * answers l with probability pi_j[k][l] (one K×K confusion matrix per reviewer). EM alternates:
 *   E: T_ik ∝ p_k · Π_{votes (i,j,l)} pi_j[k][l]               (posterior over the true class)
 *   M: pi_j[k][l] = (Σ_{votes of j with label l} T_ik + s·q[k][l]) / (Σ_{votes of j} T_ik + s)
 *      p_k        = (Σ_i T_ik + 1) / (n_items + K)
 * Initialised from the majority (T = each item's vote shares), as Dawid & Skene do, which also
 * pins the label permutation: EM's likelihood is symmetric under relabelling classes, and
 * starting from the crowd's majority keeps "faithful" meaning faithful.
 *
 * Smoothing: q is the pooled confusion matrix of the whole crowd (itself Laplace-smoothed) and
 * s = `priorStrength` pseudo-votes per row — a Dirichlet prior centred on the crowd. A reviewer
 * with two votes is thereby treated as an average reviewer rather than as perfectly accurate
 * (or perfectly wrong), which is what unsmoothed DS does and what lets one lucky newcomer
 * override three veterans.
 *
 * Cost per iteration is O(votes · K) over typed arrays.
 */
import { itemLabelCounts, type VoteTable } from './vote-table';
import { UNDECIDED } from './majority';

export interface DawidSkeneOptions {
  /** Iteration cap. Default 100. */
  maxIterations?: number;
  /**
   * Stop when no posterior moves by more than this between iterations. Default 1e-5: labels
   * and reported posteriors (3 decimals) no longer change, and a tighter one only costs
   * iterations.
   */
  tolerance?: number;
  /** Also stop when the log-likelihood improves by less than this fraction of itself. Default 1e-6. */
  likelihoodTolerance?: number;
  /** Pseudo-votes per confusion-matrix row drawn from the pooled crowd matrix. Default 2. */
  priorStrength?: number;
  /**
   * Per item: a class code known in advance (a decoy is known to be confabulated; a gold item
   * has its answer), or -1. Known items keep a one-hot posterior, so their votes calibrate each
   * reviewer's confusion matrix without their label being inferred.
   */
  known?: Int32Array;
}

export interface DawidSkeneResult {
  classes: string[];
  /** Row-major `[item * K + class]` posterior P(true class | votes). */
  posterior: Float64Array;
  /** Per item: argmax class code; UNDECIDED for items without votes or exact ties. */
  label: Int32Array;
  /** Per item: the posterior of `label` (NaN when undecided). */
  confidence: Float64Array;
  /** Estimated class prevalence p. */
  classPrior: Float64Array;
  /** Row-major `[reviewer][trueClass][givenLabel]` confusion matrices. */
  confusion: Float64Array;
  /**
   * Per reviewer: Σ_k p_k · pi_j[k][k], the probability that their vote equals the true class
   * on a random item. A spammer sits near chance; an adversary below it.
   */
  reliability: Float64Array;
  /** Per reviewer: number of (decisive) votes. */
  reviewerVotes: Int32Array;
  iterations: number;
  converged: boolean;
  /** Log-likelihood of the votes at the final parameters. */
  logLikelihood: number;
}

export function dawidSkene(table: VoteTable, options: DawidSkeneOptions = {}): DawidSkeneResult {
  const maxIterations = options.maxIterations ?? 100;
  const tolerance = options.tolerance ?? 1e-5;
  const likelihoodTolerance = options.likelihoodTolerance ?? 1e-6;
  const priorStrength = options.priorStrength ?? 2;
  const K = table.classes.length;
  const KK = K * K;
  const nItems = table.itemKeys.length;
  const nReviewers = table.reviewerKeys.length;
  const { item, reviewer, label } = table;
  const nVotes = table.length;

  const known = options.known;
  if (known && known.length !== nItems) throw new RangeError(`known has ${known.length} entries for ${nItems} items.`);
  const posterior = new Float64Array(nItems * K);
  const hasVotes = new Uint8Array(nItems);
  const reviewerVotes = new Int32Array(nReviewers);
  for (let v = 0; v < nVotes; v++) {
    hasVotes[item[v]] = 1;
    reviewerVotes[reviewer[v]]++;
  }

  const classPrior = new Float64Array(K).fill(K > 0 ? 1 / K : 0);
  const confusion = new Float64Array(nReviewers * KK);
  const reliability = new Float64Array(nReviewers);
  if (K === 0) {
    return finish(0, true, Number.NaN);
  }

  // Initialise T from the vote shares (a soft majority).
  const counts = itemLabelCounts(table);
  for (let i = 0; i < nItems; i++) {
    let total = 0;
    for (let k = 0; k < K; k++) total += counts[i * K + k];
    for (let k = 0; k < K; k++) posterior[i * K + k] = total > 0 ? counts[i * K + k] / total : 1 / K;
  }
  clampKnown();

  const numerator = new Float64Array(nReviewers * KK);
  const rowTotal = new Float64Array(nReviewers * K);
  const pooled = new Float64Array(KK);
  const pooledRow = new Float64Array(K);
  const logConfusion = new Float64Array(nReviewers * KK);
  const logPrior = new Float64Array(K);
  const logT = new Float64Array(nItems * K);

  let iterations = 0;
  let converged = false;
  let logLikelihood = Number.NaN;
  let previousLogLikelihood = Number.NaN;
  while (iterations < maxIterations) {
    iterations++;
    mStep();
    // E-step: accumulate log-evidence per item, then normalise.
    for (let i = 0; i < nItems; i++) for (let k = 0; k < K; k++) logT[i * K + k] = logPrior[k];
    for (let v = 0; v < nVotes; v++) {
      const base = item[v] * K;
      const conf = reviewer[v] * KK + label[v];
      for (let k = 0; k < K; k++) logT[base + k] += logConfusion[conf + k * K];
    }
    let maxChange = 0;
    logLikelihood = 0;
    for (let i = 0; i < nItems; i++) {
      if (known && known[i] >= 0) continue;
      const base = i * K;
      let max = -Infinity;
      for (let k = 0; k < K; k++) if (logT[base + k] > max) max = logT[base + k];
      let sum = 0;
      for (let k = 0; k < K; k++) {
        const e = Math.exp(logT[base + k] - max);
        logT[base + k] = e;
        sum += e;
      }
      if (hasVotes[i]) logLikelihood += max + Math.log(sum);
      for (let k = 0; k < K; k++) {
        const t = logT[base + k] / sum;
        const change = Math.abs(t - posterior[base + k]);
        if (change > maxChange) maxChange = change;
        posterior[base + k] = t;
      }
    }
    // EM converges linearly; on a large crowd with weakly identified reviewers it can creep for
    // hundreds of iterations (seen: 200k items, log-likelihood gaining 3e-7 of itself per
    // iteration while the posteriors of a few balanced items moved 0.005). Either test stops.
    const likelihoodStalled = Math.abs(logLikelihood - previousLogLikelihood) <= likelihoodTolerance * Math.abs(logLikelihood);
    previousLogLikelihood = logLikelihood;
    if (maxChange < tolerance || likelihoodStalled) {
      converged = true;
      break;
    }
  }
  // Parameters consistent with the final posteriors.
  mStep();
  return finish(iterations, converged, logLikelihood);

  function clampKnown(): void {
    if (!known) return;
    for (let i = 0; i < nItems; i++) {
      const c = known[i];
      if (c < 0) continue;
      for (let k = 0; k < K; k++) posterior[i * K + k] = k === c ? 1 : 0;
    }
  }

  function mStep(): void {
    numerator.fill(0);
    rowTotal.fill(0);
    for (let v = 0; v < nVotes; v++) {
      const t = item[v] * K;
      const j = reviewer[v];
      const cell = j * KK + label[v];
      const row = j * K;
      for (let k = 0; k < K; k++) {
        const w = posterior[t + k];
        numerator[cell + k * K] += w;
        rowTotal[row + k] += w;
      }
    }
    // Pooled crowd confusion, Laplace-smoothed so no cell is zero.
    pooled.fill(0);
    pooledRow.fill(0);
    for (let j = 0; j < nReviewers; j++) {
      for (let c = 0; c < KK; c++) pooled[c] += numerator[j * KK + c];
      for (let k = 0; k < K; k++) pooledRow[k] += rowTotal[j * K + k];
    }
    for (let k = 0; k < K; k++) for (let l = 0; l < K; l++) pooled[k * K + l] = (pooled[k * K + l] + 1) / (pooledRow[k] + K);
    for (let j = 0; j < nReviewers; j++) {
      for (let k = 0; k < K; k++) {
        const denominator = rowTotal[j * K + k] + priorStrength;
        for (let l = 0; l < K; l++) {
          const c = j * KK + k * K + l;
          const p = (numerator[c] + priorStrength * pooled[k * K + l]) / denominator;
          confusion[c] = p;
          logConfusion[c] = Math.log(p);
        }
      }
    }
    // Class prior from items that have votes. Known items are left out: decoys are planted at a
    // rate the admins chose, and would otherwise inflate the confabulated prevalence.
    let n = 0;
    const mass = new Float64Array(K);
    for (let i = 0; i < nItems; i++) {
      if (!hasVotes[i] || (known && known[i] >= 0)) continue;
      n++;
      for (let k = 0; k < K; k++) mass[k] += posterior[i * K + k];
    }
    for (let k = 0; k < K; k++) {
      classPrior[k] = (mass[k] + 1) / (n + K);
      logPrior[k] = Math.log(classPrior[k]);
    }
    // Items without votes carry the prior, so a consumer never sees a stale initial value.
    for (let i = 0; i < nItems; i++) {
      if (hasVotes[i] || (known && known[i] >= 0)) continue;
      for (let k = 0; k < K; k++) posterior[i * K + k] = classPrior[k];
    }
  }

  function finish(iterationsDone: number, didConverge: boolean, ll: number): DawidSkeneResult {
    const labelOut = new Int32Array(nItems).fill(UNDECIDED);
    const confidence = new Float64Array(nItems).fill(Number.NaN);
    for (let i = 0; i < nItems; i++) {
      if (!hasVotes[i] || K === 0) continue;
      let best = 0;
      let tied = false;
      for (let k = 1; k < K; k++) {
        const p = posterior[i * K + k];
        if (p > posterior[i * K + best]) {
          best = k;
          tied = false;
        } else if (p === posterior[i * K + best]) {
          tied = true;
        }
      }
      if (!tied) {
        labelOut[i] = best;
        confidence[i] = posterior[i * K + best];
      }
    }
    for (let j = 0; j < nReviewers; j++) {
      let r = 0;
      for (let k = 0; k < K; k++) r += classPrior[k] * confusion[j * KK + k * K + k];
      reliability[j] = r;
    }
    return {
      classes: table.classes,
      posterior,
      label: labelOut,
      confidence,
      classPrior,
      confusion,
      reliability,
      reviewerVotes,
      iterations: iterationsDone,
      converged: didConverge,
      logLikelihood: ll,
    };
  }
}
