/**
 * View models → Discord messages (embeds and the buttons that draw a view's actions). Pure
 * functions: no client, no I/O. User text goes through ./escape; limits through ./message.
 */
import type { APIActionRowComponent, APIButtonComponentWithCustomId, APIComponentInMessageActionRow, APIEmbed, APIEmbedField } from 'discord.js';
import { encodeAction, type Action } from '../../core/actions';
import type {
  AnalysisView,
  ExplanationView,
  FeatureCardView,
  FileView,
  PositionView,
  ReviewItemView,
  SettingsView,
  StatsView,
  View,
  VoteAckView,
} from '../../core/view';
import { highlightPrompt as highlightPromptIn, visibleToken } from '../../render/prompt';
import { confabulationRateText, formatCount, formatScore, plural, truncate } from '../../render/text';
import { escapeUserText, fitUserText } from './escape';
import { COLORS, explanationFooter, field, fitMessage, LABEL_NAMES, LIMITS, NO_MENTIONS, tallyLine, truncateLines, type DiscordMessage } from './message';

/** The prompt with the selected tokens highlighted as **⟦token⟧**. */
export function highlightPrompt(analysis: AnalysisView, positions: number[], limit: number): string {
  return highlightPromptIn(analysis, positions, limit, { escape: escapeUserText, fit: fitUserText, mark: (token) => `**⟦${token}⟧**`, windowShare: 1 / 3 });
}

function tokenLabel(token: string): string {
  return fitUserText(visibleToken(token), 60);
}

function featuresEmbed(position: PositionView): APIEmbed {
  const max = Math.max(...position.features.map((f) => f.activation), 0);
  const lines = position.features.map((f) => {
    const bar = max > 0 ? '█'.repeat(Math.max(1, Math.round((f.activation / max) * 8))) : '';
    return `\`${f.index}\` ${fitUserText(f.label || '(unlabelled)', 90)} — **${formatScore(f.activation)}** ${bar}`;
  });
  return {
    title: truncate(`SAE features at ${tokenLabelPlain(position)}`, LIMITS.embedTitle),
    description: truncateLines(lines.length ? lines : ['No feature fired.'], LIMITS.embedDescription),
    color: COLORS.info,
    fields: [
      field('L0', formatCount(position.l0), true),
      field('Explained variance', formatScore(position.explainedVariance), true),
      field('fve\\_nrm', formatScore(position.fveNrm), true),
    ],
  };
}

function tokenLabelPlain(position: PositionView): string {
  return `⟦${tokenLabel(position.token)}⟧ (position ${position.position})`;
}


function explanationEmbed(position: PositionView, explanation: ExplanationView): APIEmbed {
  const fields: APIEmbedField[] = [];
  const ar = explanation.ar;
  fields.push(
    field(
      'Round trip (AR)',
      ar ? `cos ${formatScore(ar.cosine)} · mse\\_nrm ${formatScore(ar.mseNrm)} · fve\\_nrm ${formatScore(ar.fveNrm)}` : 'not scored',
      false,
    ),
  );
  if (explanation.claims.length > 0) {
    fields.push(
      field(
        'Claims',
        truncateLines(
          // One line per claim (line breaks folded), so the Note form can read them back by line.
          explanation.claims.map((c, i) => `${i + 1}. ${fitUserText(c.replace(/\s+/g, ' ').trim(), 300)}`),
          LIMITS.fieldValue,
        ),
      ),
    );
  }
  if (explanation.state === 'closed' && explanation.tally) {
    const outcome = explanation.outcome ? ` — **${explanation.outcome}**` : '';
    fields.push(field('Votes (closed)', `${tallyLine(explanation.tally)}${outcome}`));
  } else if (explanation.tally) {
    fields.push(field('Votes so far', tallyLine(explanation.tally)));
  }
  const text = explanation.text.trim() ? fitUserText(explanation.text, 3000) : '*(empty)*';
  return {
    title: truncate(`Explanation ${explanation.number} · ${tokenLabelPlain(position)}`, LIMITS.embedTitle),
    description: explanation.parsed ? text : `${text}\n*(the AV output had no <explanation> tags; shown raw)*`,
    color: explanation.state === 'closed' ? COLORS.closed : COLORS.success,
    fields,
    footer: { text: explanationFooter(explanation.explanationId) },
  };
}

type ButtonStyle = APIButtonComponentWithCustomId['style'];
const VOTE_STYLES = { faithful: 3, confabulated: 4, unsure: 2 } as const;

/** One button per action, each carrying its action as the custom_id. */
function actionRow(
  actions: readonly Action[],
  shown: { number?: number; myVote?: ExplanationView['myVote']; disabled?: boolean } = {},
): APIActionRowComponent<APIComponentInMessageActionRow> {
  const components = actions.map((action, i): APIButtonComponentWithCustomId => {
    let label: string;
    let style: number;
    if (action.kind === 'vote') {
      label = `${LABEL_NAMES[action.label]}${shown.myVote === action.label ? ' ✓' : ''}`;
      style = VOTE_STYLES[action.label];
    } else if (action.kind === 'note') {
      [label, style] = ['Note…', 1];
    } else if (action.kind === 'retry') {
      [label, style] = ['Retry', 1];
    } else {
      [label, style] = ['Next item', 2];
    }
    // The explanation's number leads its row, so the row reads as belonging to its embed.
    if (i === 0 && shown.number !== undefined) label = `${shown.number} · ${label}`;
    const button: APIButtonComponentWithCustomId = { type: 2, custom_id: encodeAction(action), label: truncate(label, LIMITS.buttonLabel), style: style as ButtonStyle };
    if (shown.disabled !== undefined) button.disabled = shown.disabled;
    return button;
  });
  return { type: 1, components };
}

function explanationRow(explanation: ExplanationView): APIActionRowComponent<APIComponentInMessageActionRow> {
  return actionRow(explanation.actions, { number: explanation.number, myVote: explanation.myVote, disabled: explanation.state === 'closed' });
}

function analysisMessage(analysis: AnalysisView, only?: { position: PositionView; explanation: ExplanationView }): DiscordMessage {
  const positions = only ? [only.position] : analysis.positions;
  const header: APIEmbed = {
    title: truncate(`Analysis #${analysis.analysisId}${statusSuffix(analysis.status)}`, LIMITS.embedTitle),
    description: highlightPrompt(
      analysis,
      positions.map((p) => p.position),
      LIMITS.embedDescription,
    ),
    color: analysis.status === 'failed' ? COLORS.error : COLORS.info,
    fields: analysis.model ? [field('Model', `${fitUserText(analysis.model, 200)} · layer ${analysis.layer}`, true)] : [],
  };
  if (analysis.requestedBy) header.fields!.push(field('Requested by', fitUserText(analysis.requestedBy, 100), true));
  if (analysis.status === 'failed') {
    const retry = analysis.retryable ? `\nIt can be retried: press Retry, or run \`/retry ${analysis.analysisId}\`.` : '';
    header.fields!.push(field('Failed', `${fitUserText(analysis.error ?? 'The analysis failed.', 800)}${retry}`));
  } else if (analysis.status !== 'done') {
    header.fields!.push(field('Status', analysis.status === 'queued' ? 'Queued for the worker…' : 'Running on the worker…'));
  }

  const embeds: APIEmbed[] = [header];
  const rows: DiscordMessage['components'] = [];
  let omitted = 0;
  for (const position of positions) {
    embeds.push(featuresEmbed(position));
    const explanations = only ? [only.explanation] : position.explanations;
    for (const explanation of explanations) {
      // One embed and one row of buttons per explanation; Discord allows 10 embeds and 5 rows.
      if (embeds.length >= LIMITS.embedsPerMessage - 1 || rows.length >= LIMITS.actionRows) {
        omitted += 1;
        continue;
      }
      embeds.push(explanationEmbed(position, explanation));
      if (explanation.actions.length) rows.push(explanationRow(explanation));
    }
  }
  if (omitted > 0) {
    header.fields!.push(field('More', `${plural(omitted, 'more explanation')} did not fit in one message; \`/review\` shows them one by one.`));
  }
  if (analysis.legend) header.footer = { text: analysis.legend };
  if (analysis.actions.length) rows.push(actionRow(analysis.actions));
  return fitMessage({ embeds: embeds.slice(0, LIMITS.embedsPerMessage), components: rows, allowedMentions: NO_MENTIONS });
}

function statusSuffix(status: AnalysisView['status']): string {
  return status === 'done' ? '' : status === 'failed' ? ' · failed' : status === 'queued' ? ' · queued' : ' · running';
}

function voteAckMessage(ack: VoteAckView): DiscordMessage {
  const label = LABEL_NAMES[ack.myVote];
  const what =
    ack.change === 'changed'
      ? `Your vote on #${ack.explanationId} changed from **${LABEL_NAMES[ack.previous ?? ack.myVote]}** to **${label}**.`
      : ack.change === 'unchanged'
        ? `You already voted **${label}** on #${ack.explanationId}; nothing changed.`
        : `Your vote on #${ack.explanationId}: **${label}**.`;
  const lines = [what, '', `Current tally: ${tallyLine(ack.tally)}`];
  if (ack.closedNow) lines.push('', 'Your vote closed this item; the tally is now public.');
  else if (ack.state === 'closed') lines.push('', 'This item is closed.');
  const fields: APIEmbedField[] = [];
  if (ack.note) fields.push(field('Your note', fitUserText(ack.note, LIMITS.fieldValue)));
  if (ack.markedClaims?.length) {
    fields.push(field('Claims you marked wrong', truncateLines(ack.markedClaims.map((c) => `• ${fitUserText(c, 300)}`), LIMITS.fieldValue)));
  }
  return fitMessage({
    embeds: [{ title: 'Vote recorded', description: lines.join('\n'), color: COLORS.success, fields }],
    components: [],
    allowedMentions: NO_MENTIONS,
  });
}

function statsMessage(stats: StatsView): DiscordMessage {
  const rate = stats.confabulationRate;
  const fields = [
    field('Analyses', formatCount(stats.analyses), true),
    field('Explanations', formatCount(stats.explanations), true),
    field('Votes', formatCount(stats.votes), true),
    field('Reviewers', formatCount(stats.reviewers), true),
    field('Open items', formatCount(stats.openItems), true),
    field('Closed items', formatCount(stats.closedItems), true),
    field(
      'Confabulation rate',
      confabulationRateText(rate),
    ),
    ...stats.extra.map((e) => field(fitUserText(e.label, LIMITS.fieldName), fitUserText(e.value, LIMITS.fieldValue), true)),
  ];
  return fitMessage({
    embeds: [{ title: `Stats · ${fitUserText(stats.scope, LIMITS.embedTitle - 8)}`, color: COLORS.info, fields: fields.slice(0, LIMITS.embedFields) }],
    components: [],
    allowedMentions: NO_MENTIONS,
  });
}

function featureMessage(card: FeatureCardView): DiscordMessage {
  const examples = card.examples.map(
    (e) => `#${e.analysisId} ⟦${tokenLabel(e.token)}⟧ ${formatScore(e.activation)} — ${fitUserText(e.context, 200)}`,
  );
  return fitMessage({
    embeds: [
      {
        title: truncate(`Feature ${card.index}`, LIMITS.embedTitle),
        description: truncateLines(
          [
            fitUserText(card.label || '(unlabelled)', 500),
            '',
            `Fired in ${formatCount(card.firedCount)} of ${plural(card.analysedPositions, 'analysed position')}.`,
            '',
            ...(examples.length ? ['**Examples**', ...examples] : ['No examples yet.']),
          ],
          LIMITS.embedDescription,
        ),
        color: COLORS.info,
      },
    ],
    components: [],
    allowedMentions: NO_MENTIONS,
  });
}

function settingsMessage(settings: SettingsView): DiscordMessage {
  const fields = Object.entries(settings.settings).map(([key, value]) =>
    field(`${settings.changed.includes(key) ? '✏️ ' : ''}${fitUserText(key, 200)}`, value === null ? 'not set' : fitUserText(String(value), 500), true),
  );
  return fitMessage({
    embeds: [
      {
        title: settings.changed.length ? 'Settings updated' : 'Settings',
        description: settings.changed.length ? `Changed: ${settings.changed.map((c) => fitUserText(c, 60)).join(', ')}` : undefined,
        color: settings.changed.length ? COLORS.success : COLORS.info,
        fields: fields.slice(0, LIMITS.embedFields),
      },
    ],
    components: [],
    allowedMentions: NO_MENTIONS,
  });
}

function fileMessage(file: FileView, attachmentSizeLimit: number): DiscordMessage {
  const fits = file.bytes <= attachmentSizeLimit;
  const lines = file.summary.map((l) => fitUserText(l, 500));
  lines.push(
    '',
    fits
      ? `Attached: ${fitUserText(file.filename, 200)} (${formatCount(file.bytes)} bytes).`
      : `The file is ${formatCount(file.bytes)} bytes; this server accepts attachments up to ${formatCount(attachmentSizeLimit)} bytes. It was written to ${fitUserText(file.path, 1000)} on the bot's host.`,
  );
  return fitMessage({
    embeds: [{ title: 'Dataset export', description: truncateLines(lines, LIMITS.embedDescription), color: COLORS.info }],
    components: [],
    allowedMentions: NO_MENTIONS,
    files: fits ? [{ attachment: file.path, name: truncate(file.filename, 200) }] : undefined,
  });
}

export interface RenderOptions {
  /** The interaction's `attachment_size_limit` (Discord's default is 10 MiB). */
  attachmentSizeLimit?: number;
}

/** Render any view model as one Discord message. */
export function renderView(view: View, options: RenderOptions = {}): DiscordMessage {
  switch (view.kind) {
    case 'analysis':
      return analysisMessage(view);
    case 'review-item':
      return reviewItemMessage(view);
    case 'vote-ack':
      return voteAckMessage(view);
    case 'stats':
      return statsMessage(view);
    case 'feature':
      return featureMessage(view);
    case 'settings':
      return settingsMessage(view);
    case 'file':
      return fileMessage(view, options.attachmentSizeLimit ?? 10 * 1024 * 1024);
    case 'message':
      return fitMessage({
        embeds: [
          {
            title: view.title ? fitUserText(view.title, LIMITS.embedTitle) : undefined,
            description: truncateLines(view.lines.length ? view.lines.map((l) => fitUserText(l, LIMITS.embedDescription)) : ['—'], LIMITS.embedDescription),
            color: view.tone === 'success' ? COLORS.success : view.tone === 'warning' ? COLORS.warning : COLORS.info,
          },
        ],
        components: [],
        allowedMentions: NO_MENTIONS,
      });
    case 'error':
      return errorMessage(view.message);
  }
}

function reviewItemMessage(item: ReviewItemView): DiscordMessage {
  return analysisMessage(item.analysis, { position: item.position, explanation: item.explanation });
}

/** A user-facing error. The message comes from Confab, but may quote user text, so it is escaped. */
export function errorMessage(message: string): DiscordMessage {
  return {
    embeds: [{ title: 'Sorry, that did not work', description: fitUserText(message, LIMITS.embedDescription), color: COLORS.error }],
    components: [],
    allowedMentions: NO_MENTIONS,
  };
}
