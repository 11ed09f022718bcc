/**
 * The terminal's one escaping helper. Every string that came from a user, a model or the
 * database passes through it before it reaches the terminal.
 *
 * Why: a prompt is echoed back in every analysis. Raw ESC (0x1b) or CSI (0x9b) bytes in it
 * would let whoever typed the prompt move the cursor, rewrite earlier lines (a forged tally),
 * retitle the window or, on some terminals, write to the clipboard (OSC 52). Bidirectional
 * overrides would let text display in an order different from the bytes (Trojan Source).
 * Such characters are shown as visible escapes instead: `\x1b`, `\n`, `\u202e`.
 */

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

// C0 controls, DEL, C1 controls, bidirectional embeddings/overrides/isolates, line and
// paragraph separators, and the zero-width BOM.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;

export function escapeTerminal(text: string): string {
  return text.replace(UNSAFE, (ch) => {
    const named = NAMED[ch];
    if (named) return named;
    const code = ch.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
