/**
 * GPT-2's ByteLevel alphabet: a reversible map from each byte to a printable character, in which
 * byte-level BPE vocabularies (GPT-2, Qwen2, Llama-3, the reference stack) spell their tokens.
 */

/** The character for each byte 0..255; printable Latin-1 bytes map to themselves. */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const out = new Array<string>(256);
  bs.forEach((b, i) => (out[b] = String.fromCodePoint(cs[i])));
  return out;
}
export const BYTE_TO_CHAR = bytesToUnicode();
export const CHAR_TO_BYTE = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));
