/**
 * Writing above an interactive prompt. Anything printed while the prompt shows (a finished
 * analysis, a log line) must not land in the text being typed, and a prompt that wraps over
 * several rows must be cleared whole, or each print leaves a stale copy of it behind.
 *
 * Only readline's public surface is used: `getCursorPos()` (the cursor's row and column from
 * the start of the prompt), `getPrompt()`, `line` and `cursor`.
 */
import { clearScreenDown, cursorTo, moveCursor, type Interface } from 'node:readline';

/** Moves to the start of the prompt's first row and clears from there down. */
export function clearPrompt(rl: Interface, output: NodeJS.WritableStream): void {
  const { rows } = rl.getCursorPos();
  if (rows > 0) moveCursor(output, 0, -rows);
  cursorTo(output, 0);
  clearScreenDown(output);
}

/**
 * Draws the prompt and the typed text again where the cursor is, and puts the cursor back at
 * the same place within them, so that readline's own bookkeeping (rows above the cursor) holds.
 */
export function redrawPrompt(rl: Interface, output: NodeJS.WritableStream): void {
  const typed = rl.getPrompt() + rl.line;
  const cursor = rl.getCursorPos();
  const columns = (output as NodeJS.WriteStream).columns || 80;
  const width = displayWidth(typed);
  output.write(typed);
  // With the cursor at the end (the usual case) readline has measured the end already.
  const end = rl.cursor >= rl.line.length ? cursor : { rows: Math.floor(width / columns), cols: width % columns };
  // A line that fills its last row exactly leaves the cursor pending at the edge; a space makes
  // the terminal start the next row, as readline does.
  if (end.cols === 0 && width > 0) output.write(' ');
  cursorTo(output, cursor.cols);
  if (end.rows > cursor.rows) moveCursor(output, 0, cursor.rows - end.rows);
}

/** Terminal columns of plain text: escape sequences take none, each code point one (wide characters are rare in a mid-line edit). */
function displayWidth(text: string): number {
  return [...text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')].length;
}
