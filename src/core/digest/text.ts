/**
 * The digest as plain lines (the terminal, the CLI and the /digest preview) and as the JSON
 * object `confab digest --json` prints. Lines are raw text: each channel escapes them with its
 * own helper, since the contested items quote model output.
 */
import { formatCount } from '../errors';
import type { SignalName } from '../labels/signals';
import type { Digest, Quartiles } from './content';

export const SIGNAL_TITLES: Record<SignalName, string> = {
  ar_fve_nrm: 'AR round trip (fve_nrm)',
  feature_overlap: 'SAE feature-label overlap',
  judge: 'LLM judge',
};

const formatScore = (x: number | null, digits = 2) => (x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(digits).replace(/^-(0\.?0*)$/, '$1'));
const formatPercent = (share: number | null, digits = 1) => (share === null || !Number.isFinite(share) ? 'n/a' : `${formatScore(share * 100, digits)}%`);

/** The first line of every digest: "Digest · 2026-W48". */
export function digestTitle(digest: Pick<Digest, 'period'>): string {
  return `Digest · ${digest.period.label}`;
}

export function rateText(rate: Digest['confabulationRate']): string {
  if (!rate) return 'n/a (no item closed with a majority)';
  return `${formatPercent(rate.rate)} (95% CI ${formatPercent(rate.low)}–${formatPercent(rate.high)}, n = ${formatCount(rate.n)})`;
}

export function quartilesText(q: Quartiles | null): string {
  return q ? `median ${formatScore(q.median)} (IQR ${formatScore(q.q1)}–${formatScore(q.q3)}, n = ${formatCount(q.n)})` : 'n/a';
}

export function signalText(s: Digest['signals'][number]): string {
  if (s.auroc === null) return s.n === 0 ? 'n/a (no labelled item has it)' : `n/a (needs labelled items of both kinds; n = ${formatCount(s.n)})`;
  return `AUROC ${formatScore(s.auroc)} (95% CI ${formatScore(s.low)}–${formatScore(s.high)}, n = ${formatCount(s.n)})`;
}

export function alphaText(digest: Digest): string {
  return digest.alpha === null ? 'n/a (needs items with two or more votes that differ somewhere)' : `${formatScore(digest.alpha)} over ${formatCount(digest.alphaItems)} items`;
}

export function decoysText(digest: Digest): string {
  const { votes, caught } = digest.decoys;
  return votes === 0 ? 'no votes on decoys' : `${formatCount(caught)} of ${formatCount(votes)} votes caught the decoy (${formatPercent(caught / votes, 0)})`;
}

export function datasetText(digest: Digest): string {
  return `${formatCount(digest.dataset.rows)} rows, ${formatCount(digest.dataset.newRows)} new since ${digest.dataset.since.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** A short trend: "W41 n/a · W42 40% · …", the period labels shortened to what differs. */
export function trendText(digest: Digest): string {
  return digest.trend.map((t) => `${t.label.replace(/^\d{4}-(?=W)/, '')} ${t.rate ? formatPercent(t.rate.rate, 0) : 'n/a'}`).join(' · ');
}

export function contestedText(item: Digest['contested'][number]): string {
  const text = item.text.length > 160 ? `${item.text.slice(0, 159)}…` : item.text;
  return `#${item.explanationId} (analysis #${item.analysisId}, ${item.faithful} faithful vs ${item.confabulated} confabulated): ${text}`;
}

/** The digest as lines, without its title line. */
export function digestLines(digest: Digest): string[] {
  if (digest.empty) {
    return [`Nothing was reviewed in ${digest.period.label}: no analyses, no votes, no items closed.`, `Dataset: ${datasetText(digest)}.`];
  }
  const lines = [
    `Analyses requested: ${formatCount(digest.analyses)} · explanations voted on: ${formatCount(digest.explanationsVoted)} · votes: ${formatCount(digest.votes)} · active reviewers: ${formatCount(digest.reviewers)} · items closed: ${formatCount(digest.itemsClosed)}`,
    `Confabulation rate: ${rateText(digest.confabulationRate)}`,
    `Trend: ${trendText(digest)}`,
    `Agreement (Krippendorff's alpha): ${alphaText(digest)}`,
    `Decoys: ${decoysText(digest)}`,
  ];
  lines.push(digest.contested.length ? 'Most contested:' : 'Most contested: none (no item with votes both ways)');
  for (const item of digest.contested) lines.push(`  ${contestedText(item)}`);
  lines.push('Automatic signals against the human labels:');
  for (const s of digest.signals) lines.push(`  ${SIGNAL_TITLES[s.name]}: ${signalText(s)}`);
  lines.push(`fve_nrm: SAE ${quartilesText(digest.fveNrm.sae)}; NLA ${quartilesText(digest.fveNrm.nla)}`);
  lines.push(`Dataset: ${datasetText(digest)}`);
  return lines;
}

/** `confab digest --json`: exactly these keys. */
export function digestJson(digest: Digest) {
  const rate = digest.confabulationRate;
  const q = (x: Quartiles | null) => ({ median: x?.median ?? null, q1: x?.q1 ?? null, q3: x?.q3 ?? null });
  return {
    period: { start: digest.period.start.toISOString(), end: digest.period.end.toISOString(), label: digest.period.label },
    analyses: digest.analyses,
    explanations_voted: digest.explanationsVoted,
    votes: digest.votes,
    reviewers: digest.reviewers,
    items_closed: digest.itemsClosed,
    confabulation_rate: { value: rate?.rate ?? null, low: rate?.low ?? null, high: rate?.high ?? null, n: rate?.n ?? 0 },
    alpha: digest.alpha,
    decoys: { votes: digest.decoys.votes, caught: digest.decoys.caught },
    contested: digest.contested.map((c) => ({
      explanation_id: c.explanationId,
      analysis_id: c.analysisId,
      text: c.text,
      faithful: c.faithful,
      confabulated: c.confabulated,
      unsure: c.unsure,
      channel: c.channel,
      message_ref: c.messageRef,
    })),
    signals: digest.signals.map((s) => ({ name: s.name, auroc: s.auroc, low: s.low, high: s.high, n: s.n })),
    fve_nrm: { sae: q(digest.fveNrm.sae), nla: q(digest.fveNrm.nla) },
    dataset: { rows: digest.dataset.rows },
  };
}
