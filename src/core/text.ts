/** Checks on text that users type, shared by every command option. */

// C0 controls (except tab and line feed; carriage return is allowed for CRLF pastes), DEL and
// C1 controls. They break terminal and chat rendering, and no prompt needs them.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/u;

/** The first control character in `text`, as "U+0007", or null. */
export function findControlCharacter(text: string): string | null {
  const m = CONTROL.exec(text);
  return m ? `U+${m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}` : null;
}

/** Length in characters as a person counts them (code points, so an emoji is one). */
export function characterCount(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}
