/**
 * Normalizing and pre-tokenizing text while keeping, for every UTF-16 unit of the result, the
 * range of the original input it came from: offsets stay exact through NFC, replacements and
 * inserted prefix spaces.
 */
import type { NormalizerStep, PreTokenizerStep } from './tokenizer-config';

export interface Piece {
  text: string;
  /** Where `text` starts in the original input, when it maps there unit for unit. */
  start: number;
  /**
   * Per code unit of `text`: its source range [start, end) in the original input; null when
   * `text` is an unchanged slice from `start`. Inserted units (a prefix space) get an empty range.
   */
  map: Array<[number, number]> | null;
}

function slicePiece(piece: Piece, from: number, to: number): Piece {
  if (!piece.map) return { text: piece.text.slice(from, to), start: piece.start + from, map: null };
  return { text: piece.text.slice(from, to), start: piece.map[from]?.[0] ?? piece.start, map: piece.map.slice(from, to) };
}

function fullMap(piece: Piece): Array<[number, number]> {
  return piece.map ?? Array.from({ length: piece.text.length }, (_, u) => [piece.start + u, piece.start + u + 1] as [number, number]);
}

export function normalize(piece: Piece, n: NormalizerStep): Piece {
  if (n.kind === 'nfc') {
    if (piece.text.normalize('NFC') === piece.text) return piece;
    // Normalize per base character + following marks, so each output unit keeps a source range.
    const src = fullMap(piece);
    let text = '';
    const map: Array<[number, number]> = [];
    const re = /\P{M}\p{M}*|\p{M}+/gu;
    for (const m of piece.text.matchAll(re)) {
      const from = m.index!;
      const to = from + m[0].length;
      const nf = m[0].normalize('NFC');
      for (let u = 0; u < nf.length; u++) map.push(nf.length === m[0].length ? src[from + u] : [src[from][0], src[to - 1][1]]);
      text += nf;
    }
    return { text, start: piece.start, map };
  }
  if (n.kind === 'prepend') {
    const src = fullMap(piece);
    const at = src[0]?.[0] ?? piece.start;
    return { text: n.text + piece.text, start: piece.start, map: [...Array.from({ length: n.text.length }, () => [at, at] as [number, number]), ...src] };
  }
  // replace: each occurrence's output units map to the replaced source range
  if (!piece.text.includes(n.from)) return piece;
  const src = fullMap(piece);
  let text = '';
  const map: Array<[number, number]> = [];
  let u = 0;
  while (u < piece.text.length) {
    if (n.from && piece.text.startsWith(n.from, u)) {
      const range: [number, number] = [src[u][0], src[u + n.from.length - 1][1]];
      text += n.to;
      for (let k = 0; k < n.to.length; k++) map.push(range);
      u += n.from.length;
    } else {
      text += piece.text[u];
      map.push(src[u]);
      u++;
    }
  }
  return { text, start: piece.start, map };
}

function splitByRegex(piece: Piece, regex: RegExp, keepMatches: boolean, keepGaps: boolean): Piece[] {
  const out: Piece[] = [];
  let last = 0;
  regex.lastIndex = 0;
  for (const m of piece.text.matchAll(regex)) {
    if (m[0].length === 0) continue;
    const from = m.index!;
    if (keepGaps && from > last) out.push(slicePiece(piece, last, from));
    if (keepMatches) out.push(slicePiece(piece, from, from + m[0].length));
    last = from + m[0].length;
  }
  if (keepGaps && last < piece.text.length) out.push(slicePiece(piece, last, piece.text.length));
  return out;
}

/** Split where `regex` matches, gluing each match to the text before it (or after it). */
function splitMerged(piece: Piece, regex: RegExp, withPrevious: boolean): Piece[] {
  const cuts: number[] = [];
  regex.lastIndex = 0;
  for (const m of piece.text.matchAll(regex)) {
    if (m[0].length === 0) continue;
    cuts.push(withPrevious ? m.index! + m[0].length : m.index!);
  }
  const out: Piece[] = [];
  let last = 0;
  for (const c of cuts) {
    if (c > last) out.push(slicePiece(piece, last, c));
    last = Math.max(last, c);
  }
  if (last < piece.text.length) out.push(slicePiece(piece, last, piece.text.length));
  return out;
}

export function preTokenize(piece: Piece, p: PreTokenizerStep, atTextStart: boolean): Piece[] {
  if (p.kind === 'split') {
    if (p.behavior === 'Isolated' || p.behavior === 'Removed') return splitByRegex(piece, p.regex, p.behavior === 'Isolated', true);
    return splitMerged(piece, p.regex, p.behavior === 'MergedWithPrevious');
  }
  if (p.kind === 'bytelevel') {
    let pc = piece;
    // As in HF tokenizers: every split that reaches ByteLevel gets the space, not only the first.
    if (p.addPrefixSpace && !pc.text.startsWith(' ')) {
      const src = fullMap(pc);
      const at = src[0]?.[0] ?? pc.start;
      pc = { text: ' ' + pc.text, start: pc.start, map: [[at, at], ...src] };
    }
    return p.regex ? splitByRegex(pc, p.regex, true, true) : [pc];
  }
  // metaspace: spaces become the replacement char; each word keeps its leading marker
  let pc = normalize(piece, { kind: 'replace', from: ' ', to: p.replacement });
  if (p.prependScheme === 'always' || (p.prependScheme === 'first' && atTextStart)) {
    if (!pc.text.startsWith(p.replacement)) pc = normalize(pc, { kind: 'prepend', text: p.replacement });
  }
  const out: Piece[] = [];
  let from = 0;
  for (let u = 1; u <= pc.text.length; u++) {
    if (u === pc.text.length || pc.text.startsWith(p.replacement, u)) {
      out.push(slicePiece(pc, from, u));
      from = u;
    }
  }
  return out;
}
