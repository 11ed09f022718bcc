/**
 * The prompt with the analysed tokens marked, for chat messages with a length limit. A long
 * prompt is shown as a window around the first marked token, so the mark is never cut away.
 * Each platform brings its own escaping and its own bold.
 */
import type { AnalysisView } from '../core/view';
import { TRUNCATION_MARKER } from './text';

export interface PromptMarkup {
  /** Escapes user text for the platform, whole. */
  escape(text: string): string;
  /** Escapes and cuts user text to `limit` characters: the fallback when even the window is too long. */
  fit(text: string, limit: number): string;
  /** Wraps the escaped token in the platform's bold, with the ⟦ ⟧ mark. */
  mark(escapedToken: string): string;
  /** The share of the limit given to raw context on each side of the mark. */
  windowShare: number;
}

export function highlightPrompt(analysis: Pick<AnalysisView, 'prompt' | 'tokens'>, positions: number[], limit: number, markup: PromptMarkup): string {
  const { prompt, tokens } = analysis;
  const spans = positions
    .map((p) => tokens[p])
    .filter((t): t is { text: string; start: number; end: number } => t !== undefined && t.end >= t.start)
    .sort((a, b) => a.start - b.start);
  const window = Math.floor(limit * markup.windowShare);
  let from = 0;
  let to = prompt.length;
  if (markup.escape(prompt).length > limit - 40 && spans.length > 0) {
    from = Math.max(0, spans[0].start - window);
    to = Math.min(prompt.length, spans[0].end + window);
  }
  let out = from > 0 ? TRUNCATION_MARKER : '';
  let cursor = from;
  for (const span of spans) {
    if (span.start < cursor || span.end > to) continue;
    out += markup.escape(prompt.slice(cursor, span.start));
    out += markup.mark(markup.escape(prompt.slice(span.start, span.end) || span.text));
    cursor = span.end;
  }
  out += markup.escape(prompt.slice(cursor, to));
  if (to < prompt.length) out += TRUNCATION_MARKER;
  // Still too long (hostile text that grows when escaped): plain escaped text keeps the markup balanced.
  return out.length <= limit ? out : markup.fit(prompt.slice(from, to), limit);
}

/** A whitespace token would be invisible; show what it is. */
export function visibleToken(token: string): string {
  return token.replace(/ /g, '␠').replace(/\n/g, '↵').replace(/\t/g, '⇥');
}
