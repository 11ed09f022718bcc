/**
 * View models → Discord messages (embeds, buttons, modals). Pure functions: no client, no I/O.
 *
 * Two helpers do all the safety work, and everything below goes through them:
 * - `escapeUserText` makes user text inert: markdown, mentions, code fences, masked links.
 * - `fitUserText` / `truncate` keep every string inside its Discord limit with a visible marker.
 * `fitMessage` then enforces the per-message limits (10 embeds, 6000 characters across embeds,
 * 5 action rows of 5 buttons), so no view can make Discord answer 400.
 *
 * Button ids carry only database ids (`v:<explanationId>:f|c|u`, `n:<explanationId>`), never
 * state, so buttons on a message posted before a restart still work.
 */
import type {
  APIActionRowComponent,
  APIButtonComponentWithCustomId,
  APIComponentInMessageActionRow,
  APIEmbed,
  APIEmbedField,
  APIModalInteractionResponseCallbackData,
  APISelectMenuOption,
} from 'discord.js';
import type {
  AnalysisView,
  ExplanationView,
  FeatureCardView,
  FileView,
  PositionView,
  ReviewItemView,
  SettingsView,
  StatsView,
  TallyView,
  View,
  VoteAckView,
  VoteLabel,
} from '../../core/view';
import { formatCount, formatPercent, formatScore, plural, TRUNCATION_MARKER, truncate } from '../../render/text';

/** Discord's limits (platforms.md, and the API reference for modals). */
export const LIMITS = {
  content: 2000,
  embedsPerMessage: 10,
  embedTitle: 256,
  embedDescription: 4096,
  embedFields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  authorName: 256,
  embedsTotal: 6000,
  actionRows: 5,
  buttonsPerRow: 5,
  customId: 100,
  buttonLabel: 80,
  selectOptions: 25,
  selectOptionText: 100,
  selectPlaceholder: 150,
  modalTitle: 45,
  modalLabel: 45,
  modalLabelDescription: 100,
  textInput: 4000,
} as const;

/** Never let a message ping anyone: user text can contain `@everyone` or `<@&role>`. */
export const NO_MENTIONS = { parse: [] as [] };

export const COLORS = { info: 0x5865f2, success: 0x57f287, warning: 0xfee75c, error: 0xed4245, closed: 0x99aab5 } as const;

/** A message ready for discord.js: `allowed_mentions` is always set. */
export interface DiscordMessage {
  content?: string;
  embeds: APIEmbed[];
  components: Array<APIActionRowComponent<APIComponentInMessageActionRow>>;
  allowedMentions: typeof NO_MENTIONS;
  /** Files to attach (local paths). */
  files?: Array<{ attachment: string; name: string }>;
}

// ---------------------------------------------------------------- escaping

const ZWSP = '\u200b';

/**
 * Make user text display literally. Backslash-escapes every character Discord markdown gives a
 * meaning (emphasis, code fences, spoilers, quotes, headings, lists, masked links, and the `<`
 * that opens user/role/channel mentions, slash-command mentions and timestamps), and puts a
 * zero-width space after every `@`, so `@everyone` / `@here` neither ping nor highlight even
 * when the prompt is split around a highlighted token.
 * Rendered, a backslash before punctuation is invisible, so the text reads as typed.
 */
export function escapeUserText(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    // Model output can hold control bytes; show them as their Unicode control pictures.
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, (c) => String.fromCharCode(c === '\u007f' ? 0x2421 : 0x2400 + c.charCodeAt(0)))
    .replace(/[\\*_~`|>#\-[\]()<:]/g, (c) => `\\${c}`)
    .replaceAll('@', `@${ZWSP}`);
}

/** The inverse of `escapeUserText`, for reading our own rendered text back (claims in a modal). */
export function unescapeUserText(text: string): string {
  return text.replaceAll(`@${ZWSP}`, '@').replace(/\\([\\*_~`|>#\-[\]()<:])/g, '$1');
}

/**
 * Escape user text and fit it in `limit` characters. Cuts the raw text, not the escaped one, so
 * a cut never lands inside an escape sequence (a lone `\` would escape the marker instead).
 */
export function fitUserText(raw: string, limit: number): string {
  const escaped = escapeUserText(raw);
  if (escaped.length <= limit) return escaped;
  let low = 0;
  let high = raw.length;
  // Largest prefix whose escaped form plus the marker fits.
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (escapeUserText(raw.slice(0, mid)).length + TRUNCATION_MARKER.length <= limit) low = mid;
    else high = mid - 1;
  }
  let end = low;
  const last = raw.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return truncate(escapeUserText(raw.slice(0, end)).trimEnd() + TRUNCATION_MARKER, limit);
}

// ---------------------------------------------------------------- custom ids

const LABEL_CODES: Record<VoteLabel, string> = { faithful: 'f', confabulated: 'c', unsure: 'u' };
const CODE_LABELS: Record<string, VoteLabel> = { f: 'faithful', c: 'confabulated', u: 'unsure' };

export function voteButtonId(explanationId: number, label: VoteLabel): string {
  return `v:${explanationId}:${LABEL_CODES[label]}`;
}
export function noteButtonId(explanationId: number): string {
  return `n:${explanationId}`;
}
export function noteModalId(explanationId: number): string {
  return `m:${explanationId}`;
}
export function retryButtonId(analysisId: number): string {
  return `r:${analysisId}`;
}

/** Modal field ids (inside one modal, so short names suffice). */
export const MODAL_FIELDS = { label: 'label', note: 'note', claims: 'claims' } as const;

export type ParsedCustomId =
  | { kind: 'vote'; explanationId: number; label: VoteLabel }
  | { kind: 'note'; explanationId: number }
  | { kind: 'modal'; explanationId: number }
  | { kind: 'retry'; analysisId: number };

/** Parse a custom_id we issued; anything else (old formats, tampering) is null. */
export function parseCustomId(customId: string): ParsedCustomId | null {
  const m = /^([vnmr]):(\d{1,15})(?::([fcu]))?$/.exec(customId);
  if (!m) return null;
  const id = Number(m[2]);
  if (!Number.isSafeInteger(id)) return null;
  if (m[1] === 'v') return m[3] ? { kind: 'vote', explanationId: id, label: CODE_LABELS[m[3]] } : null;
  if (m[3]) return null;
  if (m[1] === 'n') return { kind: 'note', explanationId: id };
  if (m[1] === 'm') return { kind: 'modal', explanationId: id };
  return { kind: 'retry', analysisId: id };
}

// ---------------------------------------------------------------- pieces

const LABEL_NAMES: Record<VoteLabel, string> = { faithful: 'Faithful', confabulated: 'Confabulated', unsure: 'Unsure' };
const LABEL_ICONS: Record<VoteLabel, string> = { faithful: '✅', confabulated: '❌', unsure: '❔' };

function tallyLine(tally: TallyView): string {
  return (['faithful', 'confabulated', 'unsure'] as const).map((l) => `${LABEL_ICONS[l]} ${LABEL_NAMES[l]} ${formatCount(tally[l])}`).join(' · ');
}

/** The footer that identifies an explanation's embed, so a vote that closes it can find it. */
export function explanationFooter(explanationId: number): string {
  return `explanation #${explanationId}`;
}

function field(name: string, value: string, inline = false): APIEmbedField {
  return { name: truncate(name, LIMITS.fieldName), value: truncate(value || '—', LIMITS.fieldValue), inline };
}

/**
 * The prompt with the selected tokens highlighted as **⟦token⟧**. Long prompts are shown as a
 * window around the first selected token, so the highlight is never truncated away.
 */
export function highlightPrompt(analysis: AnalysisView, positions: number[], limit: number): string {
  const { prompt, tokens } = analysis;
  const spans = positions
    .map((p) => tokens[p])
    .filter((t): t is { text: string; start: number; end: number } => t !== undefined && t.end >= t.start)
    .sort((a, b) => a.start - b.start);
  // Raw characters of context kept around the highlight when the prompt does not fit.
  const window = Math.floor(limit / 3);
  let from = 0;
  let to = prompt.length;
  if (escapeUserText(prompt).length > limit - 40 && spans.length > 0) {
    from = Math.max(0, spans[0].start - window);
    to = Math.min(prompt.length, spans[0].end + window);
  }
  let out = from > 0 ? TRUNCATION_MARKER : '';
  let cursor = from;
  for (const span of spans) {
    if (span.start < cursor || span.end > to) continue;
    out += escapeUserText(prompt.slice(cursor, span.start));
    const token = prompt.slice(span.start, span.end) || span.text;
    out += `**⟦${escapeUserText(token)}⟧**`;
    cursor = span.end;
  }
  out += escapeUserText(prompt.slice(cursor, to));
  if (to < prompt.length) out += TRUNCATION_MARKER;
  // Still too long (hostile text that doubles when escaped): cut, keeping markup balanced by
  // falling back to plain escaped text.
  return out.length <= limit ? out : fitUserText(prompt.slice(from, to), limit);
}

function tokenLabel(token: string): string {
  // A whitespace token would be invisible; show what it is.
  const shown = token.replace(/ /g, '␠').replace(/\n/g, '↵').replace(/\t/g, '⇥');
  return fitUserText(shown, 60);
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

/** Join lines, dropping whole lines (with a count) rather than cutting one in half. */
function truncateLines(lines: string[], limit: number): string {
  const out: string[] = [];
  let used = 0;
  for (let i = 0; i < lines.length; i++) {
    const more = `${TRUNCATION_MARKER} ${plural(lines.length - i, 'more line')}`;
    const next = used + lines[i].length + (out.length ? 1 : 0);
    const reserve = i < lines.length - 1 ? more.length + 1 : 0;
    if (next + reserve > limit) {
      out.push(more);
      return truncate(out.join('\n'), limit);
    }
    out.push(lines[i]);
    used = next;
  }
  return out.join('\n');
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

function voteRow(explanation: ExplanationView): APIActionRowComponent<APIComponentInMessageActionRow> {
  const disabled = explanation.state === 'closed';
  const button = (custom_id: string, label: string, style: number): APIButtonComponentWithCustomId => ({
    type: 2,
    custom_id,
    label: truncate(label, LIMITS.buttonLabel),
    style: style as APIButtonComponentWithCustomId['style'],
    disabled,
  });
  const mine = explanation.myVote;
  const mark = (l: VoteLabel) => (mine === l ? ' ✓' : '');
  return {
    type: 1,
    components: [
      button(voteButtonId(explanation.explanationId, 'faithful'), `${explanation.number} · Faithful${mark('faithful')}`, 3),
      button(voteButtonId(explanation.explanationId, 'confabulated'), `Confabulated${mark('confabulated')}`, 4),
      button(voteButtonId(explanation.explanationId, 'unsure'), `Unsure${mark('unsure')}`, 2),
      button(noteButtonId(explanation.explanationId), 'Note…', 1),
    ],
  };
}

// ---------------------------------------------------------------- views

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
      rows.push(voteRow(explanation));
    }
  }
  if (omitted > 0) {
    header.fields!.push(field('More', `${plural(omitted, 'more explanation')} did not fit in one message; \`/review\` shows them one by one.`));
  }
  if (analysis.status === 'failed' && analysis.retryable) {
    rows.push({ type: 1, components: [{ type: 2, custom_id: retryButtonId(analysis.analysisId), label: 'Retry', style: 1 }] });
  }
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
      rate ? `${formatPercent(rate.rate)} (95% CI ${formatPercent(rate.low)}–${formatPercent(rate.high)}, n = ${formatCount(rate.n)})` : 'no closed items yet',
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

// ---------------------------------------------------------------- limits

function embedLength(embed: APIEmbed): number {
  let n = (embed.title?.length ?? 0) + (embed.description?.length ?? 0) + (embed.footer?.text.length ?? 0) + (embed.author?.name.length ?? 0);
  for (const f of embed.fields ?? []) n += f.name.length + f.value.length;
  return n;
}

/** Total characters Discord counts against the 6000 limit. */
export function embedsLength(embeds: APIEmbed[]): number {
  return embeds.reduce((n, e) => n + embedLength(e), 0);
}

/**
 * Enforce the per-message limits. When the embeds together exceed 6000 characters, shorten the
 * longest text (description or field value) until they fit, each with a visible marker.
 */
export function fitMessage(message: DiscordMessage): DiscordMessage {
  const embeds = message.embeds.slice(0, LIMITS.embedsPerMessage).map((e) => ({
    ...e,
    title: e.title === undefined ? undefined : truncate(e.title, LIMITS.embedTitle),
    description: e.description === undefined ? undefined : truncate(e.description, LIMITS.embedDescription),
    footer: e.footer ? { ...e.footer, text: truncate(e.footer.text, LIMITS.footer) } : undefined,
    fields: e.fields?.slice(0, LIMITS.embedFields).map((f) => ({ ...f, name: truncate(f.name, LIMITS.fieldName), value: truncate(f.value, LIMITS.fieldValue) })),
  }));
  let excess = embedsLength(embeds) - LIMITS.embedsTotal;
  while (excess > 0) {
    let target: { get: () => string; set: (s: string) => void } | null = null;
    let longest = 0;
    for (const e of embeds) {
      if ((e.description?.length ?? 0) > longest) {
        longest = e.description!.length;
        target = { get: () => e.description!, set: (s) => (e.description = s) };
      }
      for (const f of e.fields ?? []) {
        if (f.value.length > longest) {
          longest = f.value.length;
          target = { get: () => f.value, set: (s) => (f.value = s) };
        }
      }
    }
    if (!target || longest <= 1) break;
    const text = target.get();
    // Shrink by the excess, but never below a readable stub, then re-measure.
    const next = Math.max(Math.min(64, text.length - 1), text.length - excess);
    target.set(truncate(text, next));
    excess = embedsLength(embeds) - LIMITS.embedsTotal;
  }
  const components = message.components.slice(0, LIMITS.actionRows).map((row) => ({
    ...row,
    components: row.components.slice(0, LIMITS.buttonsPerRow).map((c) =>
      'label' in c && typeof c.label === 'string' ? { ...c, label: truncate(c.label, LIMITS.buttonLabel) } : c,
    ),
  }));
  return {
    ...message,
    content: message.content === undefined ? undefined : truncate(message.content, LIMITS.content),
    embeds,
    components,
    allowedMentions: NO_MENTIONS,
  };
}

// ---------------------------------------------------------------- note modal

/**
 * The Note modal: the reviewer's label, a free-text note, and a multi-select of the
 * explanation's claims to mark as wrong. discord.js 14.28 supports a string select inside a
 * modal through the Label component (type 18), which Discord requires for selects in modals.
 */
export function renderNoteModal(explanationId: number, claims: string[]): APIModalInteractionResponseCallbackData {
  const options: APISelectMenuOption[] = claims.slice(0, LIMITS.selectOptions).map((claim, i) => ({
    label: truncate(`${i + 1}. ${claim.replace(/\s+/g, ' ').trim() || '(empty)'}`, LIMITS.selectOptionText),
    value: String(i + 1),
  }));
  const components: APIModalInteractionResponseCallbackData['components'] = [
    {
      type: 18,
      label: 'Your vote',
      component: {
        type: 3,
        custom_id: MODAL_FIELDS.label,
        min_values: 1,
        max_values: 1,
        required: true,
        options: (['faithful', 'confabulated', 'unsure'] as const).map((l) => ({ label: LABEL_NAMES[l], value: l })),
      },
    },
    {
      type: 18,
      label: 'Note',
      description: 'What is right or wrong about this explanation (optional).',
      component: { type: 4, custom_id: MODAL_FIELDS.note, style: 2, required: false, max_length: 1000 },
    },
  ];
  if (options.length > 0) {
    components.push({
      type: 18,
      label: 'Claims that are wrong',
      description: truncate(
        claims.length > LIMITS.selectOptions ? `The first ${LIMITS.selectOptions} of ${claims.length} claims.` : 'Pick any that the activation does not support.',
        LIMITS.modalLabelDescription,
      ),
      component: {
        type: 3,
        custom_id: MODAL_FIELDS.claims,
        min_values: 0,
        max_values: options.length,
        required: false,
        placeholder: 'No claim marked',
        options,
      },
    });
  }
  return { custom_id: noteModalId(explanationId), title: truncate(`Note on explanation #${explanationId}`, LIMITS.modalTitle), components };
}

/**
 * Read an explanation's claims back from the message it was shown on (the Claims field we
 * rendered), so the Note modal can open within Discord's 3-second window without a lookup.
 */
export function claimsFromMessage(embeds: APIEmbed[], explanationId: number): string[] {
  const embed = embeds.find((e) => e.footer?.text === explanationFooter(explanationId));
  const claimsField = embed?.fields?.find((f) => f.name === 'Claims');
  if (!claimsField) return [];
  return claimsField.value
    .split('\n')
    .map((line) => /^(\d+)\. (.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => unescapeUserText(m[2]));
}

// ---------------------------------------------------------------- closing

/**
 * Update a public analysis message when one of its explanations closes: add the tally to that
 * explanation's embed and disable its buttons. Works from the message alone (no lookup), so it
 * also works for messages posted before a restart.
 */
export function closeExplanationOnMessage(
  message: { embeds: APIEmbed[]; components: Array<APIActionRowComponent<APIComponentInMessageActionRow>> },
  ack: Pick<VoteAckView, 'explanationId' | 'tally'>,
): DiscordMessage {
  const footer = explanationFooter(ack.explanationId);
  const embeds = message.embeds.map((e) => {
    if (e.footer?.text !== footer) return e;
    const fields = (e.fields ?? []).filter((f) => !f.name.startsWith('Votes'));
    const winner = ack.tally.faithful === ack.tally.confabulated ? 'undecided' : ack.tally.faithful > ack.tally.confabulated ? 'faithful' : 'confabulated';
    fields.push(field('Votes (closed)', `${tallyLine(ack.tally)} — **${winner}**`));
    return { ...e, color: COLORS.closed, fields };
  });
  const prefix = `:${ack.explanationId}`;
  const components = message.components.map((row) => ({
    ...row,
    components: row.components.map((c) =>
      'custom_id' in c && typeof c.custom_id === 'string' && (c.custom_id.endsWith(prefix) || c.custom_id.includes(`${prefix}:`)) ? { ...c, disabled: true } : c,
    ),
  }));
  return fitMessage({ embeds, components, allowedMentions: NO_MENTIONS });
}
