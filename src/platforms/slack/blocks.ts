/**
 * View models → Slack Block Kit messages. Pure functions: no client, no I/O. User text goes
 * through `fitMrkdwn` (escaped and cut); every message through `fitMessage` (Slack's limits).
 *
 * Block ids name what a block shows (`e:<explanationId>:votes`, `e:<id>:claims`), so a message
 * can be updated from its own blocks when an item closes, even after a restart.
 */
import type {
  AnalysisView,
  ExplanationView,
  FeatureCardView,
  FileView,
  PositionView,
  SettingsView,
  StatsView,
  TallyView,
  View,
  VoteAckView,
  VoteLabel,
} from '../../core/view';
import { highlightPrompt as highlightPromptIn, visibleToken } from '../../render/prompt';
import { activationBar, confabulationRateText, formatCount, formatScore, plural } from '../../render/text';
import { encodeAction } from './actions';
import { fitMessage, fitMrkdwn, joinLines, LIMITS, mrkdwn, plainText, type Block, type SlackMessage } from './mrkdwn';

export const LABEL_NAMES: Record<VoteLabel, string> = { faithful: 'Faithful', confabulated: 'Confabulated', unsure: 'Unsure' };
const LABEL_ICONS: Record<VoteLabel, string> = { faithful: '✅', confabulated: '❌', unsure: '❔' };

export function tallyLine(tally: TallyView): string {
  return (['faithful', 'confabulated', 'unsure'] as const).map((l) => `${LABEL_ICONS[l]} ${LABEL_NAMES[l]} ${formatCount(tally[l])}`).join(' · ');
}

export const blockIds = {
  votes: (explanationId: number) => `e:${explanationId}:votes`,
  claims: (explanationId: number) => `e:${explanationId}:claims`,
  tally: (explanationId: number) => `e:${explanationId}:tally`,
};

const section = (text: string, blockId?: string): Block => ({ type: 'section', ...(blockId ? { block_id: blockId } : {}), text: mrkdwn(text) });
const context = (text: string, blockId?: string): Block => ({ type: 'context', ...(blockId ? { block_id: blockId } : {}), elements: [mrkdwn(text, LIMITS.contextText)] });
const header = (text: string): Block => ({ type: 'header', text: plainText(text, LIMITS.header) });

function button(actionId: string, text: string, style?: 'primary' | 'danger', value?: string): Record<string, unknown> {
  return { type: 'button', action_id: actionId, text: plainText(text, LIMITS.buttonText), ...(style ? { style } : {}), ...(value ? { value } : {}) };
}

function tokenLabel(token: string): string {
  return fitMrkdwn(visibleToken(token), 60);
}

/** The prompt with the analysed tokens marked as *⟦token⟧*. */
export function highlightPrompt(analysis: AnalysisView, positions: number[], limit: number): string {
  return highlightPromptIn(analysis, positions, limit, { escape: (text) => fitMrkdwn(text, Infinity), fit: fitMrkdwn, mark: (token) => `*⟦${token}⟧*`, windowShare: 1 / 4 });
}

function featureBlocks(position: PositionView): Block[] {
  const max = Math.max(...position.features.map((f) => f.activation), 0);
  const lines = position.features.map((f) => `\`${f.index}\` ${fitMrkdwn(f.label || '(unlabelled)', 90)} — *${formatScore(f.activation)}* ${activationBar(f.activation, max, 8)}`);
  return [
    section(joinLines([`*SAE features at ⟦${tokenLabel(position.token)}⟧ (position ${position.position})*`, ...(lines.length ? lines : ['No feature fired.'])], LIMITS.sectionText)),
    context(`L0 ${formatCount(position.l0)} · explained variance ${formatScore(position.explainedVariance)} · fve_nrm ${formatScore(position.fveNrm)}`),
  ];
}

function explanationBlocks(position: PositionView, explanation: ExplanationView, extraButtons: Array<Record<string, unknown>> = []): Block[] {
  const id = explanation.explanationId;
  const text = explanation.text.trim() ? fitMrkdwn(explanation.text, 2500) : '_(empty)_';
  const raw = explanation.parsed ? '' : '\n_(the AV output had no <explanation> tags; shown raw)_'.replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const ar = explanation.ar;
  const blocks: Block[] = [
    { type: 'divider' },
    section(`*Explanation ${explanation.number}* · ⟦${tokenLabel(position.token)}⟧ · #${id}\n${text}${raw}`),
    context(ar ? `Round trip (AR): cos ${formatScore(ar.cosine)} · mse_nrm ${formatScore(ar.mseNrm)} · fve_nrm ${formatScore(ar.fveNrm)}` : 'Round trip (AR): not scored'),
  ];
  if (explanation.claims.length > 0) {
    // One line per claim (line breaks folded), so the Note modal can read them back by line.
    const lines = explanation.claims.map((c, i) => `${i + 1}. ${fitMrkdwn(c.replace(/\s+/g, ' ').trim(), 300)}`);
    blocks.push(section(joinLines(['*Claims*', ...lines], LIMITS.sectionText), blockIds.claims(id)));
  }
  if (explanation.state === 'closed') {
    const outcome = explanation.outcome ? ` — *${explanation.outcome}*` : '';
    blocks.push(context(`Votes (closed): ${explanation.tally ? tallyLine(explanation.tally) : 'hidden'}${outcome}`, blockIds.tally(id)));
  } else {
    if (explanation.tally) blocks.push(context(`Votes so far: ${tallyLine(explanation.tally)}`));
    blocks.push(voteActions(explanation, extraButtons));
  }
  return blocks;
}

function voteActions(explanation: ExplanationView, extraButtons: Array<Record<string, unknown>>): Block {
  const id = explanation.explanationId;
  const mark = (l: VoteLabel) => (explanation.myVote === l ? ' ✓' : '');
  const value = String(id);
  return {
    type: 'actions',
    block_id: blockIds.votes(id),
    elements: [
      button(encodeAction({ kind: 'vote', explanationId: id, label: 'faithful' }), `Faithful${mark('faithful')}`, 'primary', value),
      button(encodeAction({ kind: 'vote', explanationId: id, label: 'confabulated' }), `Confabulated${mark('confabulated')}`, 'danger', value),
      button(encodeAction({ kind: 'vote', explanationId: id, label: 'unsure' }), `Unsure${mark('unsure')}`, undefined, value),
      button(encodeAction({ kind: 'note', explanationId: id }), 'Note…', undefined, value),
      ...extraButtons,
    ],
  };
}

function statusSuffix(status: AnalysisView['status']): string {
  return status === 'done' ? '' : status === 'failed' ? ' · failed' : status === 'queued' ? ' · queued' : ' · running';
}

function analysisMessage(analysis: AnalysisView, only?: { position: PositionView; explanation: ExplanationView }): SlackMessage {
  const positions = only ? [only.position] : analysis.positions;
  const title = `Analysis #${analysis.analysisId}${statusSuffix(analysis.status)}`;
  const blocks: Block[] = [
    header(title),
    section(highlightPrompt(analysis, positions.map((p) => p.position), LIMITS.sectionText), 'prompt'),
  ];
  const about = [analysis.model ? `${fitMrkdwn(analysis.model, 200)} · layer ${analysis.layer}` : '', analysis.requestedBy ? `requested by ${fitMrkdwn(analysis.requestedBy, 100)}` : '']
    .filter(Boolean)
    .join(' · ');
  if (about) blocks.push(context(about));
  if (analysis.status === 'failed') {
    const retry = analysis.retryable ? `\nIt can be retried: press Retry, or run \`/confab retry ${analysis.analysisId}\`.` : '';
    blocks.push(section(`*Failed:* ${fitMrkdwn(analysis.error ?? 'The analysis failed.', 800)}${retry}`, 'failed'));
    if (analysis.retryable) {
      blocks.push({ type: 'actions', block_id: 'retry', elements: [button(encodeAction({ kind: 'retry', analysisId: analysis.analysisId }), 'Retry', 'primary', String(analysis.analysisId))] });
    }
  } else if (analysis.status !== 'done') {
    blocks.push(context(analysis.status === 'queued' ? 'Queued for the worker…' : 'Running on the worker…', 'status'));
  }
  for (const position of positions) {
    blocks.push(...featureBlocks(position));
    const explanations = only ? [only.explanation] : position.explanations;
    const next = only ? [button(encodeAction({ kind: 'next', explanationId: only.explanation.explanationId }), 'Next item')] : [];
    for (const explanation of explanations) blocks.push(...explanationBlocks(position, explanation, next));
  }
  if (analysis.legend) blocks.push(context(fitMrkdwn(analysis.legend, 500), 'legend'));
  return fitMessage({ text: title, blocks });
}

function voteAckMessage(ack: VoteAckView): SlackMessage {
  const label = LABEL_NAMES[ack.myVote];
  const what =
    ack.change === 'changed'
      ? `Your vote on #${ack.explanationId} changed from *${LABEL_NAMES[ack.previous ?? ack.myVote]}* to *${label}*.`
      : ack.change === 'unchanged'
        ? `You already voted *${label}* on #${ack.explanationId}; nothing changed.`
        : `Your vote on #${ack.explanationId}: *${label}*.`;
  const blocks: Block[] = [section(what, 'vote'), section(`Current tally: ${tallyLine(ack.tally)}`, 'tally')];
  if (ack.closedNow) blocks.push(context('Your vote closed this item; the tally is now public.'));
  else if (ack.state === 'closed') blocks.push(context('This item is closed.'));
  if (ack.note) blocks.push(section(`*Your note*\n${fitMrkdwn(ack.note, 2500)}`, 'note'));
  if (ack.markedClaims?.length) {
    blocks.push(section(joinLines(['*Claims you marked wrong*', ...ack.markedClaims.map((c) => `• ${fitMrkdwn(c, 300)}`)], LIMITS.sectionText), 'claims'));
  }
  return fitMessage({ text: `Vote recorded: ${label}`, blocks });
}

function statsMessage(stats: StatsView): SlackMessage {
  const rate = stats.confabulationRate;
  const lines = [
    `*Stats · ${fitMrkdwn(stats.scope, 200)}*`,
    `Analyses ${formatCount(stats.analyses)} · explanations ${formatCount(stats.explanations)} · votes ${formatCount(stats.votes)} · reviewers ${formatCount(stats.reviewers)}`,
    `Open items ${formatCount(stats.openItems)} · closed items ${formatCount(stats.closedItems)}`,
    `Confabulation rate: ${confabulationRateText(rate)}`,
    ...stats.extra.map((e) => `${fitMrkdwn(e.label, 200)}: ${fitMrkdwn(e.value, 500)}`),
  ];
  return fitMessage({ text: 'Stats', blocks: [section(joinLines(lines, LIMITS.sectionText), 'stats')] });
}

function featureMessage(card: FeatureCardView): SlackMessage {
  const examples = card.examples.map((e) => `#${e.analysisId} ⟦${tokenLabel(e.token)}⟧ ${formatScore(e.activation)} — ${fitMrkdwn(e.context, 200)}`);
  return fitMessage({
    text: `Feature ${card.index}`,
    blocks: [
      header(`Feature ${card.index}`),
      section(
        joinLines(
          [fitMrkdwn(card.label || '(unlabelled)', 500), `Fired in ${formatCount(card.firedCount)} of ${plural(card.analysedPositions, 'analysed position')}.`, ...(examples.length ? ['*Examples*', ...examples] : ['No examples yet.'])],
          LIMITS.sectionText,
        ),
      ),
    ],
  });
}

function settingsMessage(settings: SettingsView): SlackMessage {
  const lines = Object.entries(settings.settings).map(
    ([key, value]) => `${settings.changed.includes(key) ? '✏️ ' : ''}\`${fitMrkdwn(key, 100)}\` ${value === null ? 'not set' : fitMrkdwn(String(value), 300)}`,
  );
  const title = settings.changed.length ? 'Settings updated' : 'Settings';
  return fitMessage({ text: title, blocks: [section(joinLines([`*${title}*`, ...lines], LIMITS.sectionText), 'settings')] });
}

/** The dataset result. `uploaded` is what the channel managed to do with the file. */
export function fileMessage(file: FileView, uploaded: { ok: true } | { ok: false; reason: string }): SlackMessage {
  const lines = file.summary.map((l) => fitMrkdwn(l, 500));
  lines.push(
    uploaded.ok
      ? `Uploaded: ${fitMrkdwn(file.filename, 200)} (${formatCount(file.bytes)} bytes), in a direct message to you.`
      : `${fitMrkdwn(uploaded.reason, 500)} It was written to ${fitMrkdwn(file.path, 1000)} on the bot's host.`,
  );
  return fitMessage({ text: 'Dataset export', blocks: [section(joinLines(['*Dataset export*', ...lines], LIMITS.sectionText), 'dataset')] });
}

/**
 * A user-facing error. The message comes from Confab, but may quote user text, so it is
 * escaped; `usage` lines are Confab's own mrkdwn (command syntax in code spans).
 */
export function errorMessage(message: string, usage: string[] = []): SlackMessage {
  const blocks = [section(`:warning: *Sorry, that did not work*\n${fitMrkdwn(message, 2800)}`, 'error')];
  if (usage.length) blocks.push(section(joinLines(usage, LIMITS.sectionText), 'usage'));
  return fitMessage({ text: 'Sorry, that did not work', blocks });
}

/** Render any view model as one Slack message. A file view without an upload says where the file is. */
export function renderView(view: View): SlackMessage {
  switch (view.kind) {
    case 'analysis':
      return analysisMessage(view);
    case 'review-item':
      return analysisMessage(view.analysis, { position: view.position, explanation: view.explanation });
    case 'vote-ack':
      return voteAckMessage(view);
    case 'stats':
      return statsMessage(view);
    case 'feature':
      return featureMessage(view);
    case 'settings':
      return settingsMessage(view);
    case 'file':
      return fileMessage(view, { ok: false, reason: 'The file was not uploaded.' });
    case 'message': {
      const lines = view.lines.length ? view.lines.map((l) => fitMrkdwn(l, LIMITS.sectionText)) : ['—'];
      const title = view.title ? `*${fitMrkdwn(view.title, 200)}*` : '';
      return fitMessage({ text: view.title ?? view.lines[0] ?? 'Confab', blocks: [section(joinLines(title ? [title, ...lines] : lines, LIMITS.sectionText), 'message')] });
    }
    case 'error':
      return errorMessage(view.message);
  }
}

/**
 * An item closed: replace its vote buttons with the tally, on the public message's own blocks.
 * Needs no lookup, so it also works for messages posted before a restart.
 */
export function closeExplanationInBlocks(blocks: Block[], ack: Pick<VoteAckView, 'explanationId' | 'tally'>): Block[] {
  const winner = ack.tally.faithful === ack.tally.confabulated ? 'undecided' : ack.tally.faithful > ack.tally.confabulated ? 'faithful' : 'confabulated';
  const closed = context(`Votes (closed): ${tallyLine(ack.tally)} — *${winner}*`, blockIds.tally(ack.explanationId));
  const out: Block[] = [];
  for (const block of blocks) {
    if (block.block_id === blockIds.votes(ack.explanationId) || block.block_id === blockIds.tally(ack.explanationId)) out.push(closed);
    else out.push(block);
  }
  return fitMessage({ text: 'Analysis', blocks: out }).blocks;
}
