/**
 * Terminal rendering of the view models. One function, `renderView`, turns any view into lines
 * of text. With `color`, it adds SGR styling (bold, dim, colours, the selected token in reverse
 * video); without it the output is plain text that scripts can read and diff.
 *
 * Every string taken from a view goes through `escapeTerminal` first, and styling is added
 * only afterwards, so no user text can produce an escape sequence.
 */
import type {
  AnalysisView,
  ExplanationView,
  FeatureCardView,
  PositionView,
  ReviewItemView,
  SettingsView,
  StatsView,
  TallyView,
  View,
  VoteAckView,
} from '../../core/view';
import { activationBar, confabulationRateText, formatCount, formatScore, plural } from '../../render/text';
import { escapeTerminal } from './escape';

export interface TerminalStyle {
  /** Use ANSI colours and attributes (a TTY that supports them, and NO_COLOR unset). */
  color: boolean;
}

type Sgr = 'bold' | 'dim' | 'inverse' | 'red' | 'green' | 'yellow' | 'cyan' | 'magenta';
const SGR: Record<Sgr, [number, number]> = {
  bold: [1, 22],
  dim: [2, 22],
  inverse: [7, 27],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
  magenta: [35, 39],
};

/** Paints already-escaped text. */
class Painter {
  constructor(readonly color: boolean) {}
  paint(text: string, ...styles: Sgr[]): string {
    if (!this.color || text === '') return text;
    let out = text;
    for (const style of styles) out = `\x1b[${SGR[style][0]}m${out}\x1b[${SGR[style][1]}m`;
    return out;
  }
}

/** Shorthand: escape user text. */
const e = escapeTerminal;

/** Plain-text markers around a selected token when there is no colour to show it. */
export const SELECTED_OPEN = '⟦';
export const SELECTED_CLOSE = '⟧';

export function renderView(view: View, style: TerminalStyle): string {
  const p = new Painter(style.color);
  switch (view.kind) {
    case 'analysis':
      return renderAnalysis(view, p).join('\n');
    case 'review-item':
      return renderReviewItem(view, p).join('\n');
    case 'vote-ack':
      return renderVoteAck(view, p).join('\n');
    case 'stats':
      return renderStats(view, p).join('\n');
    case 'feature':
      return renderFeatureCard(view, p).join('\n');
    case 'settings':
      return renderSettings(view, p).join('\n');
    case 'message': {
      const lines = view.lines.map((line) => e(line));
      const tone = view.tone === 'success' ? 'green' : view.tone === 'warning' ? 'yellow' : undefined;
      if (view.title) lines.unshift(tone ? p.paint(e(view.title), 'bold', tone) : p.paint(e(view.title), 'bold'));
      return lines.join('\n');
    }
    case 'error':
      return `${p.paint('Error:', 'bold', 'red')} ${e(view.message)}`;
    case 'file':
      return [
        `${p.paint('Wrote', 'bold')} ${e(view.filename)} (${formatBytes(view.bytes)}, ${e(view.contentType)}) to ${e(view.path)}`,
        ...view.summary.map((line) => `  ${e(line)}`),
      ].join('\n');
  }
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return plural(bytes, 'byte');
  if (bytes < 1024 * 1024) return `${formatScore(bytes / 1024, 1)} KiB`;
  return `${formatScore(bytes / (1024 * 1024), 1)} MiB`;
}

/** The prompt with the analysed tokens marked: reverse video on a TTY, ⟦…⟧ when plain. */
export function highlightPrompt(view: Pick<AnalysisView, 'prompt' | 'tokens'>, positions: number[], style: TerminalStyle): string {
  const painter = style instanceof Painter ? style : new Painter(style.color);
  const spans = positions
    .map((position) => view.tokens[position])
    .filter((token): token is AnalysisView['tokens'][number] => token !== undefined && token.end > token.start)
    .map((token) => [token.start, token.end] as const)
    .sort((a, b) => a[0] - b[0]);
  let out = '';
  let at = 0;
  for (const [start, end] of spans) {
    if (start < at) continue; // overlapping spans: the first one wins
    out += e(view.prompt.slice(at, start));
    const token = e(view.prompt.slice(start, end));
    out += painter.color ? painter.paint(token, 'inverse', 'bold') : `${SELECTED_OPEN}${token}${SELECTED_CLOSE}`;
    at = end;
  }
  return out + e(view.prompt.slice(at));
}

function analysisHeader(view: AnalysisView, p: Painter): string {
  const status =
    view.status === 'done'
      ? p.paint('done', 'green')
      : view.status === 'failed'
        ? p.paint('failed', 'red')
        : p.paint(view.status, 'yellow');
  const by = view.requestedBy ? ` · asked by ${e(view.requestedBy)}` : '';
  // The model and layer are known once a worker has answered.
  const model = view.model ? ` · ${e(view.model)} layer ${view.layer}` : '';
  return `${p.paint(`Analysis ${view.analysisId}`, 'bold')} · ${status}${model}${by}`;
}

function renderAnalysis(view: AnalysisView, p: Painter): string[] {
  const lines = [analysisHeader(view, p)];
  if (view.status === 'queued' || view.status === 'running') {
    // No prompt: it was just typed, and the result shows it with its token marked; a long one
    // would otherwise fill the screen three times.
    lines.push(p.paint(`Analysing; the result, with the prompt, will appear here when the worker answers.`, 'dim'));
    return lines;
  }
  const selected = view.positions.map((position) => position.position);
  lines.push(`Prompt: ${view.tokens.length > 0 ? highlightPrompt(view, selected, p) : e(view.prompt)}`);
  if (view.status === 'failed') {
    lines.push(`${p.paint('Failed:', 'red', 'bold')} ${e(view.error ?? 'no reason was recorded')}`);
    if (view.retryable) lines.push(`Retry with: /retry ${view.analysisId}`);
    return lines;
  }
  for (const position of view.positions) lines.push('', ...renderPosition(position, p));
  if (view.legend) lines.push('', p.paint(e(view.legend), 'dim'));
  return lines;
}

function renderPosition(position: PositionView, p: Painter, only?: ExplanationView): string[] {
  const lines = [
    `${p.paint(`Token ${position.position}`, 'bold')} ${p.paint(`"${e(position.token)}"`, 'cyan')}` +
      p.paint(
        ` · SAE L0 ${formatCount(position.l0)} · explained variance ${formatScore(position.explainedVariance)} · fve_nrm ${formatScore(position.fveNrm)}`,
        'dim',
      ),
  ];
  if (position.features.length > 0) {
    lines.push('  SAE features');
    const max = Math.max(...position.features.map((feature) => feature.activation));
    const indexWidth = Math.max(...position.features.map((feature) => String(feature.index).length));
    for (const feature of position.features) {
      const bar = p.paint(activationBar(feature.activation, max, 12), 'magenta');
      lines.push(`    f${String(feature.index).padEnd(indexWidth)}  ${bar} ${formatScore(feature.activation).padStart(6)}  ${e(feature.label)}`);
    }
  } else {
    lines.push(p.paint('  No SAE feature fired at this token.', 'dim'));
  }
  const explanations = only ? [only] : position.explanations;
  if (explanations.length > 0) {
    lines.push('  NLA explanations');
    for (const explanation of explanations) lines.push(...renderExplanation(explanation, p));
  }
  return lines;
}

function tallyText(tally: TallyView): string {
  return `${tally.faithful} faithful · ${tally.confabulated} confabulated · ${tally.unsure} unsure`;
}

function renderExplanation(explanation: ExplanationView, p: Painter): string[] {
  const id = p.paint(`#${explanation.explanationId}`, 'bold', 'cyan');
  const unparsed = explanation.parsed ? '' : p.paint(' (no <explanation> tags; raw output)', 'yellow');
  const lines = [`    ${explanation.number}. ${id}  "${e(explanation.text)}"${unparsed}`];
  // Numbered so a reviewer can mark wrong ones: /vote --claims 1,3 #12 confabulated.
  if (explanation.claims.length > 1) {
    explanation.claims.forEach((claim, i) => lines.push(p.paint(`       claim ${i + 1}: ${e(claim)}`, 'dim')));
  }
  const scores = explanation.ar
    ? `AR round trip: cosine ${formatScore(explanation.ar.cosine)} · mse_nrm ${formatScore(explanation.ar.mseNrm)} · fve_nrm ${formatScore(explanation.ar.fveNrm)}`
    : 'AR round trip: n/a';
  lines.push(`       ${p.paint(scores, 'dim')}`);
  const status: string[] = [];
  if (explanation.state === 'closed') {
    const outcome = explanation.outcome ? `: ${explanation.outcome}` : '';
    const reason = explanation.closedReason ? ` (${e(explanation.closedReason)})` : '';
    status.push(p.paint(`closed${outcome}${reason}`, explanation.outcome === 'confabulated' ? 'red' : 'green'));
  } else {
    status.push('open');
  }
  if (explanation.myVote) status.push(`your vote: ${explanation.myVote}`);
  status.push(explanation.tally ? `votes: ${tallyText(explanation.tally)}` : 'votes hidden until you vote');
  lines.push(`       ${status.join(' · ')}`);
  if (explanation.state === 'open') {
    lines.push(p.paint(`       vote: /vote #${explanation.explanationId} faithful|confabulated|unsure [note]`, 'dim'));
  }
  return lines;
}

function renderReviewItem(view: ReviewItemView, p: Painter): string[] {
  return [
    `${p.paint('To review', 'bold')}: explanation #${view.explanation.explanationId} from analysis ${view.analysis.analysisId} (${e(view.analysis.model)} layer ${view.analysis.layer})`,
    `Prompt: ${highlightPrompt(view.analysis, [view.position.position], p)}`,
    '',
    ...renderPosition(view.position, p, view.explanation),
  ];
}

function renderVoteAck(view: VoteAckView, p: Painter): string[] {
  const id = `#${view.explanationId}`;
  const lines: string[] = [];
  if (view.change === 'recorded') lines.push(p.paint(`Vote recorded on ${id}: ${view.myVote}.`, 'green'));
  else if (view.change === 'changed') lines.push(p.paint(`Vote on ${id} changed from ${view.previous ?? 'another label'} to ${view.myVote}.`, 'green'));
  else lines.push(`You already voted ${view.myVote} on ${id}; nothing changed.`);
  if (view.note) lines.push(`Note: ${e(view.note)}`);
  if (view.markedClaims && view.markedClaims.length > 0) lines.push(`Marked as wrong: ${view.markedClaims.map((claim) => `"${e(claim)}"`).join(', ')}`);
  lines.push(`Votes: ${tallyText(view.tally)}`);
  if (view.closedNow) lines.push(p.paint(`This vote closed ${id}.`, 'bold'));
  else if (view.state === 'closed') lines.push(`${id} is closed.`);
  return lines;
}

function renderStats(view: StatsView, p: Painter): string[] {
  const rows: Array<[string, string]> = [
    ['Analyses', formatCount(view.analyses)],
    ['Explanations', formatCount(view.explanations)],
    ['Votes', formatCount(view.votes)],
    ['Reviewers', formatCount(view.reviewers)],
    ['Open items', formatCount(view.openItems)],
    ['Closed items', formatCount(view.closedItems)],
  ];
  const rate = view.confabulationRate;
  rows.push([
    'Confabulation rate',
    confabulationRateText(rate),
  ]);
  for (const extra of view.extra) rows.push([e(extra.label), e(extra.value)]);
  const width = Math.max(...rows.map(([label]) => label.length));
  return [p.paint(`Stats: ${e(view.scope)}`, 'bold'), ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`)];
}

function renderFeatureCard(view: FeatureCardView, p: Painter): string[] {
  const lines = [
    `${p.paint(`Feature f${view.index}`, 'bold')}: ${e(view.label)}`,
    `Among the top features at ${formatCount(view.firedCount)} of ${plural(view.analysedPositions, 'analysed token')}.`,
  ];
  if (view.examples.length === 0) {
    lines.push(p.paint('No examples in this team’s analyses yet.', 'dim'));
    return lines;
  }
  lines.push('Examples');
  const max = Math.max(...view.examples.map((example) => example.activation));
  for (const example of view.examples) {
    const bar = p.paint(activationBar(example.activation, max, 8), 'magenta');
    lines.push(
      `  ${bar} ${formatScore(example.activation).padStart(6)}  ${p.paint(`"${e(example.token)}"`, 'cyan')} in "${e(example.context)}" (analysis ${example.analysisId})`,
    );
  }
  return lines;
}

function renderSettings(view: SettingsView, p: Painter): string[] {
  const keys = Object.keys(view.settings).sort();
  const width = Math.max(0, ...keys.map((key) => key.length));
  const lines = [p.paint('Settings', 'bold')];
  for (const key of keys) {
    const value = view.settings[key];
    const changed = view.changed.includes(key) ? p.paint('  (changed)', 'green') : '';
    lines.push(`  ${e(key).padEnd(width)}  ${value === null ? 'not set' : e(String(value))}${changed}`);
  }
  return lines;
}
