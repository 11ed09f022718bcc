/**
 * User text made inert for Discord and fitted to a limit. Every renderer goes through these, so
 * escaping lives in one place: markdown, mentions, code fences and masked links display literally.
 */
import { TRUNCATION_MARKER, truncate } from '../../render/text';

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
