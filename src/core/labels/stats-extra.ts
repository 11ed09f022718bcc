/**
 * The label lines `/stats` (and the digest) add to a StatsView's `extra`: agreement, the
 * crowd's accuracy on decoys, and how well each automatic signal separates what the humans
 * labelled faithful from what they labelled confabulated (AUROC with its interval).
 *
 * Everything here is computed from the per-explanation vote counts the vote transaction keeps
 * (faithful_votes, confabulated_votes), so one indexed scan of `explanations` suffices.
 */
import { and, eq, gt } from 'drizzle-orm';
import type { Queryable } from '../../../db';
import { explanations } from '../../../db/schema';
import { fleissKappaFromCounts, krippendorffAlphaFromCounts } from './agreement';
import { auroc, wilsonInterval, type AurocResult } from './intervals';
import { SIGNAL_NAMES, signalValue, type SignalName } from './signals';

export interface LabelledExplanation {
  source: string;
  faithfulVotes: number;
  confabulatedVotes: number;
  arFveNrm: number | null;
  signals: Record<string, unknown> | null;
}

export interface SignalAuroc {
  signal: SignalName;
  result: AurocResult | null;
  /** Items with a human label and a value for this signal. */
  n: number;
}

/**
 * AUROC per signal against the majority human label (ties and unvoted items left out; decoys
 * left out — they are confabulated by construction and would flatter every signal). A signal
 * is a faithfulness score, so AUROC = P(score of a faithful item > score of a confabulated one).
 */
export function signalAurocs(items: readonly LabelledExplanation[]): SignalAuroc[] {
  return SIGNAL_NAMES.map((signal) => {
    const scores: number[] = [];
    const faithful: boolean[] = [];
    for (const item of items) {
      if (item.source !== 'nla' || item.faithfulVotes === item.confabulatedVotes) continue;
      const value = signalValue(signal, item);
      if (value === null) continue;
      scores.push(value);
      faithful.push(item.faithfulVotes > item.confabulatedVotes);
    }
    return { signal, result: auroc(scores, faithful), n: scores.length };
  });
}

const SIGNAL_TITLES: Record<SignalName, string> = {
  ar_fve_nrm: 'AR round trip (fve_nrm)',
  feature_overlap: 'SAE feature-label overlap',
  judge: 'LLM judge',
};

/** The lines, ready for StatsView.extra. */
export function labelStatsLines(items: readonly LabelledExplanation[]): Array<{ label: string; value: string }> {
  const lines: Array<{ label: string; value: string }> = [];
  const real = items.filter((i) => i.source === 'nla' && i.faithfulVotes + i.confabulatedVotes > 0);
  const counts = new Int32Array(real.length * 2);
  real.forEach((i, n) => {
    counts[2 * n] = i.faithfulVotes;
    counts[2 * n + 1] = i.confabulatedVotes;
  });
  const alpha = krippendorffAlphaFromCounts(counts, 2);
  lines.push({
    label: "Krippendorff's alpha",
    value: alpha.alpha === null ? 'n/a (needs items with two or more votes that differ somewhere)' : `${alpha.alpha.toFixed(2)} over ${alpha.pairableItems} items with two or more votes, open or closed`,
  });
  const kappa = fleissKappaFromCounts(counts, 2);
  lines.push({ label: "Fleiss' kappa", value: kappa.applicable ? `${kappa.kappa.toFixed(2)} (${kappa.raters} votes per item)` : `n/a (${kappa.reason})` });

  let decoyVotes = 0;
  let caught = 0;
  for (const i of items) {
    if (i.source !== 'decoy') continue;
    decoyVotes += i.faithfulVotes + i.confabulatedVotes;
    caught += i.confabulatedVotes;
  }
  const catchRate = wilsonInterval(caught, decoyVotes);
  lines.push({
    label: 'Decoys caught',
    value: catchRate
      ? `${(100 * catchRate.rate).toFixed(0)}% of ${decoyVotes} votes (95% CI ${(100 * catchRate.low).toFixed(0)}–${(100 * catchRate.high).toFixed(0)}%)`
      : 'no votes on decoys yet',
  });

  for (const { signal, result, n } of signalAurocs(items)) {
    lines.push({
      label: `AUROC, ${SIGNAL_TITLES[signal]}`,
      value: result
        ? `${result.auroc.toFixed(2)} (95% CI ${result.low.toFixed(2)}–${result.high.toFixed(2)}, Hanley–McNeil) over ${n} items with a majority label and this signal, open or closed: ${result.positives} faithful vs ${result.negatives} confabulated`
        : n === 0
          ? 'n/a (no labelled item has this signal)'
          : 'n/a (needs labelled items of both kinds)',
    });
  }
  return lines;
}

/** Reads a workspace's voted explanations and returns the lines (what /stats calls). */
export async function loadLabelStatsLines(db: Queryable, workspaceId: number): Promise<Array<{ label: string; value: string }>> {
  const items = await db
    .select({
      source: explanations.source,
      faithfulVotes: explanations.faithfulVotes,
      confabulatedVotes: explanations.confabulatedVotes,
      arFveNrm: explanations.arFveNrm,
      signals: explanations.signals,
    })
    .from(explanations)
    .where(and(eq(explanations.workspaceId, workspaceId), gt(explanations.decisiveVotes, 0)));
  return labelStatsLines(items);
}
