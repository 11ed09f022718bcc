/**
 * How one token reads on its own. A byte-level BPE token can hold part of a character (one
 * byte of 🍕); decoded alone it would become U+FFFD, which hides which bytes it holds and looks
 * like the same token everywhere. Those bytes are shown in hex instead: `<F0 9F>`.
 */
import type { Tokenizer } from './tokenizer';

const strict = new TextDecoder('utf-8', { fatal: true });

/** Length of the UTF-8 sequence a lead byte starts; 0 for a byte that cannot start one. */
function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

const hex = (b: number) => b.toString(16).toUpperCase().padStart(2, '0');

/** Whole characters as text; every run of bytes that is not a whole character as `<XX YY>`. */
export function bytesForDisplay(bytes: Uint8Array): string {
  let out = '';
  let stray: number[] = [];
  const flush = () => {
    if (stray.length) out += `<${stray.map(hex).join(' ')}>`;
    stray = [];
  };
  for (let i = 0; i < bytes.length; ) {
    const n = sequenceLength(bytes[i]);
    let char: string | null = null;
    if (n > 0 && i + n <= bytes.length) {
      try {
        char = strict.decode(bytes.subarray(i, i + n));
      } catch {
        char = null;
      }
    }
    if (char === null) {
      stray.push(bytes[i]);
      i += 1;
    } else {
      flush();
      out += char;
      i += n;
    }
  }
  flush();
  return out;
}

/** The text a user sees for one token: its decoded text, or its bytes when it splits a character. */
export function tokenDisplayText(tokenizer: Tokenizer, id: number): string {
  const text = tokenizer.decode([id], { skipSpecial: false });
  if (!text.includes('\uFFFD')) return text;
  return bytesForDisplay(tokenizer.tokenBytes(id));
}
