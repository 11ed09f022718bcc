/**
 * Slack's limits, and the one place user text is escaped and cut for Slack.
 *
 * - `escapeMrkdwn` makes user text inert in mrkdwn: `&`, `<` and `>` become entities (so
 *   `<!channel>`, `<@U…>`, `<#C…>` and `<https://…|label>` can never form), and a zero-width
 *   space on each side of `*`, `_`, `~` and the backtick keeps them from opening emphasis or
 *   code. Every mrkdwn object also sets `verbatim: true`, so bare URLs and names stay text.
 * - `fitMessage` / `fitModal` hold every limit by visible truncation, so no view can make
 *   Slack refuse a message.
 */
import { plural, TRUNCATION_MARKER, truncate } from '../../render/text';

/** Slack's limits (platforms.md, and the Block Kit reference). */
export const LIMITS = {
  messageBlocks: 50,
  modalBlocks: 100,
  sectionText: 3000,
  messageText: 40_000,
  contextElements: 10,
  contextText: 3000,
  actionsElements: 25,
  buttonText: 75,
  actionId: 255,
  blockId: 255,
  buttonValue: 2000,
  header: 150,
  modalTitle: 24,
  modalButton: 24,
  privateMetadata: 3000,
  checkboxOptions: 10,
  optionText: 75,
  inputLabel: 2000,
  /** Reports show msg_blocks_too_long near 13k characters of block text; stay well below. */
  blockTextBudget: 11_000,
} as const;

const ZWSP = '\u200b';

export interface TextObject {
  type: 'mrkdwn' | 'plain_text';
  text: string;
  verbatim?: boolean;
  emoji?: boolean;
}

/** Slack's message and block shapes, as much of them as Confab sends. */
export type Block = Record<string, unknown> & { type: string; block_id?: string };

export interface SlackMessage {
  /** Notification and fallback text; never mrkdwn from a user unescaped. */
  text: string;
  blocks: Block[];
}

export function escapeMrkdwn(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, (c) => String.fromCharCode(c === '\u007f' ? 0x2421 : 0x2400 + c.charCodeAt(0)))
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replace(/[*_~`]/g, (c) => `${ZWSP}${c}${ZWSP}`);
}

/** The inverse of `escapeMrkdwn`, for reading our own rendered text back (claims for the Note modal). */
export function unescapeMrkdwn(text: string): string {
  return text.replaceAll(ZWSP, '').replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');
}

/**
 * Escape user text and fit it in `limit` characters. Cuts the raw text, not the escaped one,
 * so a cut never lands inside an entity.
 */
export function fitMrkdwn(raw: string, limit: number): string {
  const escaped = escapeMrkdwn(raw);
  if (escaped.length <= limit) return escaped;
  let low = 0;
  let high = raw.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (escapeMrkdwn(raw.slice(0, mid)).length + TRUNCATION_MARKER.length <= limit) low = mid;
    else high = mid - 1;
  }
  let end = low;
  const last = raw.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return truncate(escapeMrkdwn(raw.slice(0, end)).trimEnd() + TRUNCATION_MARKER, limit);
}

export function mrkdwn(text: string, limit: number = LIMITS.sectionText): TextObject {
  return { type: 'mrkdwn', text: truncate(text || ' ', limit), verbatim: true };
}

export function plainText(text: string, limit: number): TextObject {
  return { type: 'plain_text', text: truncate(text.replace(/\s+/g, ' ').trim() || '—', limit), emoji: true };
}

/** Join lines, dropping whole lines (with a count) rather than cutting one in half. */
export function joinLines(lines: string[], limit: number): string {
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

function fitText(object: unknown, limit: number): unknown {
  if (!object || typeof object !== 'object') return object;
  const t = object as TextObject;
  return typeof t.text === 'string' ? { ...t, text: truncate(t.text, limit) } : object;
}

/** One block inside its own limits: text lengths, element counts, ids and values. */
export function fitBlock(block: Block): Block {
  const out: Block = { ...block };
  if (typeof out.block_id === 'string') out.block_id = truncate(out.block_id, LIMITS.blockId, '');
  switch (block.type) {
    case 'header':
      out.text = fitText(block.text, LIMITS.header);
      break;
    case 'section':
      out.text = fitText(block.text, LIMITS.sectionText);
      break;
    case 'context':
      out.elements = (block.elements as unknown[]).slice(0, LIMITS.contextElements).map((e) => fitText(e, LIMITS.contextText));
      break;
    case 'actions':
      out.elements = (block.elements as Array<Record<string, unknown>>).slice(0, LIMITS.actionsElements).map((e) => ({
        ...e,
        text: fitText(e.text, LIMITS.buttonText),
        action_id: truncate(String(e.action_id), LIMITS.actionId, ''),
        ...(typeof e.value === 'string' ? { value: truncate(e.value, LIMITS.buttonValue, '') } : {}),
      }));
      break;
  }
  return out;
}

function blockTextLength(block: Block): number {
  return JSON.stringify(block).length;
}

/**
 * Enforce the per-message limits: at most 50 blocks and a bounded amount of block text. Blocks
 * that do not fit are dropped from the end, and a last context block says how many.
 */
export function fitBlocks(blocks: Block[], maxBlocks: number, budget: number = LIMITS.blockTextBudget): Block[] {
  const fitted = blocks.map(fitBlock);
  const notice = (dropped: number): Block => ({
    type: 'context',
    block_id: 'truncated',
    elements: [mrkdwn(`${TRUNCATION_MARKER} ${plural(dropped, 'more part')} did not fit in one Slack message.`)],
  });
  let used = 0;
  for (let i = 0; i < fitted.length; i++) {
    const length = blockTextLength(fitted[i]);
    const remaining = fitted.length - i;
    const reserve = remaining > 1 ? 200 : 0;
    if (i >= maxBlocks - (remaining > 1 ? 1 : 0) || used + length + reserve > budget) {
      return [...fitted.slice(0, i), notice(fitted.length - i)];
    }
    used += length;
  }
  return fitted;
}

export function fitMessage(message: SlackMessage): SlackMessage {
  return { text: truncate(message.text || ' ', LIMITS.messageText), blocks: fitBlocks(message.blocks, LIMITS.messageBlocks) };
}
