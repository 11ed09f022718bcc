/**
 * A reader of Hugging Face `tokenizer.json` for the tokenizers NLA base models use: BPE over a
 * ByteLevel alphabet (GPT-2, Qwen2, Llama-3, the reference stack), optionally with a Split regex
 * pre-tokenizer and an NFC normalizer; and SentencePiece-style BPE with byte fallback (Gemma:
 * Replace " " -> "▁" normalizer, no pre-tokenizer). Anything else is refused by name, so a
 * wrong tokenization never happens silently.
 *
 * Offsets are JavaScript string indices (UTF-16 code units) into the input, [start, end). A token
 * holding only part of a multi-byte character gets that character's whole range, so two tokens
 * splitting one character have overlapping offsets.
 *
 * `allowSpecial: false` is the mode for user text: added tokens marked `special` are not
 * matched, so a user typing `<|bos|>` or the AV's injection character never yields a special id.
 */
import { readFileSync } from 'node:fs';
import { BYTE_TO_CHAR, CHAR_TO_BYTE } from './byte-level';
import { readPostProcessor, type PostProcessor, type SpecialTokensAround } from './post-processor';
import { normalize, preTokenize, type Piece } from './pre-tokenize';
import {
  readDecoders,
  readNormalizers,
  readPreTokenizers,
  TokenizerError,
  type DecoderStep,
  type NormalizerStep,
  type PreTokenizerStep,
  type TokenizerJson,
} from './tokenizer-config';

export interface Encoding {
  ids: number[];
  /** [start, end) in UTF-16 code units of the input text. */
  offsets: Array<[number, number]>;
  /** True for ids that came from a special added token. */
  special: boolean[];
}

export interface EncodeOptions {
  /** Match added tokens marked special (templates we write: yes; user text: never). */
  allowSpecial: boolean;
}

interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  lstrip: boolean;
  rstrip: boolean;
}

export class Tokenizer {
  readonly vocabSize: number;
  private readonly vocab = new Map<string, number>();
  private readonly idToToken: string[] = [];
  private readonly mergeRanks = new Map<string, number>();
  private readonly added: AddedToken[] = [];
  private readonly addedById = new Map<number, AddedToken>();
  private readonly addedByFirstChar = new Map<string, AddedToken[]>();
  private readonly normalizers: NormalizerStep[];
  private readonly preTokenizers: PreTokenizerStep[];
  private readonly decoders: DecoderStep[];
  private readonly byteLevel: boolean;
  private readonly byteFallback: boolean;
  private readonly ignoreMerges: boolean;
  private readonly unkId: number | null;
  private readonly wordCache = new Map<string, Array<{ id: number; from: number; to: number }>>();
  private readonly byteCache: Array<Uint8Array | undefined> = [];
  private readonly postProcessor: PostProcessor;
  private charsPerToken: number | undefined;

  private constructor(json: TokenizerJson, readonly source: string) {
    const model = json.model ?? {};
    if (model.type !== 'BPE') {
      throw new TokenizerError(`${source}: model.type "${model.type}" is not supported; this worker reads BPE tokenizers (GPT-2, Qwen2, Llama-3, Gemma)`);
    }
    if (model.continuing_subword_prefix || model.end_of_word_suffix) {
      throw new TokenizerError(`${source}: BPE with continuing_subword_prefix/end_of_word_suffix is not supported`);
    }
    for (const [tok, id] of Object.entries(model.vocab ?? {})) this.setToken(tok, id);
    (model.merges ?? []).forEach((m, rank) => {
      const [a, b] = typeof m === 'string' ? splitMerge(m) : m;
      this.mergeRanks.set(`${a} ${b}`, rank);
    });
    this.byteFallback = Boolean(model.byte_fallback);
    this.ignoreMerges = Boolean(model.ignore_merges);
    this.unkId = model.unk_token != null ? (this.vocab.get(model.unk_token) ?? null) : null;

    for (const t of json.added_tokens ?? []) {
      const tok: AddedToken = { id: t.id, content: t.content, special: Boolean(t.special), lstrip: Boolean(t.lstrip), rstrip: Boolean(t.rstrip) };
      this.added.push(tok);
      this.addedById.set(tok.id, tok);
      this.setToken(tok.content, tok.id);
    }
    // Longest first, so "<|im_start|>" wins over a shorter added token that prefixes it.
    this.added.sort((a, b) => b.content.length - a.content.length);
    // Indexed by first character: Llama-3 has 256 reserved added tokens to try at each position.
    for (const tok of this.added) {
      if (!tok.content) continue;
      const first = tok.content[0];
      this.addedByFirstChar.set(first, [...(this.addedByFirstChar.get(first) ?? []), tok]);
    }

    this.normalizers = readNormalizers(json.normalizer, source);
    this.preTokenizers = readPreTokenizers(json.pre_tokenizer, source);
    this.decoders = readDecoders(json.decoder, source);
    this.byteLevel = this.preTokenizers.some((p) => p.kind === 'bytelevel') || this.decoders.some((d) => d.kind === 'bytelevel');
    this.vocabSize = this.idToToken.length;
    this.postProcessor = readPostProcessor(json.post_processor, source);
  }

  /** The ids `add_special_tokens=True` puts around one sequence (BOS on Gemma and Llama 3). */
  specialTokensAround(): SpecialTokensAround {
    if (!this.postProcessor.ok) throw new TokenizerError(this.postProcessor.reason);
    return this.postProcessor.single;
  }

  static fromFile(file: string): Tokenizer {
    let json: TokenizerJson;
    try {
      json = JSON.parse(readFileSync(file, 'utf8')) as TokenizerJson;
    } catch (err) {
      throw new TokenizerError(`${file}: cannot read tokenizer.json (${(err as Error).message})`);
    }
    return new Tokenizer(json, file);
  }

  static fromJSON(json: TokenizerJson, source = 'tokenizer.json'): Tokenizer {
    return new Tokenizer(json, source);
  }

  private setToken(tok: string, id: number) {
    this.vocab.set(tok, id);
    this.idToToken[id] = tok;
  }

  /**
   * The most UTF-16 code units of user text (`allowSpecial: false`) that one token can cover,
   * so that `chars / maxCharsPerToken()` is a lower bound on the token count and a prompt can be
   * refused by its length before it is tokenized. Infinity when no bound holds (a normalizer
   * that deletes text, or an added token that swallows surrounding whitespace).
   */
  maxCharsPerToken(): number {
    if (this.charsPerToken !== undefined) return this.charsPerToken;
    let longest = 1;
    // A byte-level vocabulary entry has one character per byte, and every UTF-16 code unit of
    // the input is at least one UTF-8 byte; elsewhere an entry is text, or a byte-fallback
    // <0xAB> token that covers less than its own length.
    for (const [tok, id] of this.vocab) {
      const added = this.addedById.get(id);
      if (added) {
        if (added.special) continue;
        if (added.lstrip || added.rstrip) return (this.charsPerToken = Infinity);
      }
      longest = Math.max(longest, tok.length);
    }
    // NFC composes at most four code units into one (a base letter and three marks).
    let shrink = 1;
    for (const n of this.normalizers) {
      if (n.kind === 'nfc') shrink *= 4;
      else if (n.kind === 'replace') shrink *= n.to.length === 0 ? Infinity : Math.max(1, n.from.length / n.to.length);
    }
    return (this.charsPerToken = longest * shrink);
  }

  /** The id of a vocabulary or added token, by its exact content. */
  tokenId(content: string): number | undefined {
    return this.vocab.get(content);
  }

  isSpecial(id: number): boolean {
    return this.addedById.get(id)?.special ?? false;
  }

  encode(text: string, opts: EncodeOptions): Encoding {
    const out: Encoding = { ids: [], offsets: [], special: [] };
    // 1. Added tokens are matched on the raw text, before anything else.
    let cursor = 0;
    let segStart = 0;
    while (cursor < text.length) {
      const hit = this.matchAdded(text, cursor, opts.allowSpecial);
      if (!hit) {
        cursor++;
        continue;
      }
      let segEnd = cursor;
      if (hit.token.lstrip) while (segEnd > segStart && /\s/.test(text[segEnd - 1])) segEnd--;
      this.encodeSegment(text, segStart, segEnd, out);
      cursor += hit.token.content.length;
      if (hit.token.rstrip) while (cursor < text.length && /\s/.test(text[cursor])) cursor++;
      // lstrip/rstrip whitespace belongs to the added token, offsets included (as in HF).
      out.ids.push(hit.token.id);
      out.offsets.push([segEnd, cursor]);
      out.special.push(hit.token.special);
      segStart = cursor;
    }
    this.encodeSegment(text, segStart, text.length, out);
    return out;
  }

  private matchAdded(text: string, at: number, allowSpecial: boolean): { token: AddedToken } | null {
    for (const token of this.addedByFirstChar.get(text[at]) ?? []) {
      if (token.special && !allowSpecial) continue;
      if (text.startsWith(token.content, at)) return { token };
    }
    return null;
  }

  private encodeSegment(text: string, start: number, end: number, out: Encoding) {
    if (end <= start) return;
    let piece: Piece = { text: text.slice(start, end), start, map: null };
    for (const n of this.normalizers) piece = normalize(piece, n);
    let pieces = [piece];
    for (const p of this.preTokenizers) pieces = pieces.flatMap((pc, i) => preTokenize(pc, p, i === 0 && start === 0));
    for (const pc of pieces) this.encodeWord(pc, out);
  }

  private encodeWord(piece: Piece, out: Encoding) {
    if (!piece.text) return;
    const unitRange = (u: number): [number, number] => (piece.map ? piece.map[u] : [piece.start + u, piece.start + u + 1]);
    // Symbols: bytes (byte-level) or code points, each with its UTF-16 unit range in piece.text.
    const symbols: string[] = [];
    const units: Array<[number, number]> = [];
    if (this.byteLevel) {
      // Per-byte unit ranges: every byte of a code point carries the code point's units.
      let u = 0;
      for (const cp of piece.text) {
        const len16 = cp.length;
        const bytes = Buffer.from(cp, 'utf8');
        for (const b of bytes) {
          symbols.push(BYTE_TO_CHAR[b]);
          units.push([u, u + len16]);
        }
        u += len16;
      }
    } else {
      let u = 0;
      for (const cp of piece.text) {
        symbols.push(cp);
        units.push([u, u + cp.length]);
        u += cp.length;
      }
    }
    for (const t of this.bpe(symbols)) {
      const a = unitRange(units[t.from][0]);
      const b = unitRange(units[t.to - 1][1] - 1);
      if (t.id < 0) {
        // An unknown code point: byte fallback (<0xAB> tokens) or unk.
        const cp = symbols.slice(t.from, t.to).join('');
        const bytes = Buffer.from(cp, 'utf8');
        for (const byte of bytes) {
          const id = this.byteFallback ? this.vocab.get(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`) : undefined;
          const use = id ?? this.unkId;
          if (use === null || use === undefined) throw new TokenizerError(`${this.source}: "${cp}" is not in the vocabulary and there is no byte fallback or unk token`);
          out.ids.push(use);
          out.offsets.push([a[0], b[1]]);
          out.special.push(false);
          if (id === undefined) break;
        }
        continue;
      }
      out.ids.push(t.id);
      out.offsets.push([a[0], b[1]]);
      out.special.push(false);
    }
  }

  /** BPE merges on one pre-tokenized word; `from`/`to` index into `symbols`. Unknown symbols get id -1. */
  private bpe(symbols: string[]): Array<{ id: number; from: number; to: number }> {
    const word = symbols.join('');
    const cached = this.wordCache.get(word);
    if (cached) return cached;
    let result: Array<{ id: number; from: number; to: number }>;
    const whole = this.vocab.get(word);
    if (this.ignoreMerges && whole !== undefined) {
      result = [{ id: whole, from: 0, to: symbols.length }];
    } else {
      const parts = symbols.slice();
      const starts = symbols.map((_, i) => i);
      if (this.mergeRanks.size > 0) {
        for (;;) {
          let best = -1;
          let bestRank = Infinity;
          for (let i = 0; i + 1 < parts.length; i++) {
            const r = this.mergeRanks.get(`${parts[i]} ${parts[i + 1]}`);
            if (r !== undefined && r < bestRank) {
              bestRank = r;
              best = i;
            }
          }
          if (best < 0) break;
          parts.splice(best, 2, parts[best] + parts[best + 1]);
          starts.splice(best + 1, 1);
        }
      }
      result = parts.map((p, i) => ({ id: this.vocab.get(p) ?? -1, from: starts[i], to: i + 1 < starts.length ? starts[i + 1] : symbols.length }));
    }
    if (this.wordCache.size > 50_000) this.wordCache.clear();
    this.wordCache.set(word, result);
    return result;
  }

  /**
   * Raw bytes of one token (byte-level tokenizers), so a generator can look for an ASCII stop
   * string in the bytes it has produced without decoding every step.
   */
  tokenBytes(id: number): Uint8Array {
    const hit = this.byteCache[id];
    if (hit) return hit;
    let bytes: Uint8Array;
    const added = this.addedById.get(id);
    const tok = this.idToToken[id];
    if (tok === undefined) bytes = new Uint8Array(0);
    else if (added) bytes = Buffer.from(added.content, 'utf8');
    else if (this.byteLevel) bytes = Uint8Array.from([...tok].map((c) => CHAR_TO_BYTE.get(c) ?? 0x3f));
    else if (/^<0x[0-9A-Fa-f]{2}>$/.test(tok) && this.decoders.some((d) => d.kind === 'bytefallback')) bytes = Uint8Array.of(parseInt(tok.slice(3, 5), 16));
    else bytes = Buffer.from(this.decode([id], { skipSpecial: false }), 'utf8');
    this.byteCache[id] = bytes;
    return bytes;
  }

  decode(ids: ArrayLike<number>, opts: { skipSpecial: boolean } = { skipSpecial: true }): string {
    let tokens: string[] = [];
    const raw: boolean[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const added = this.addedById.get(id);
      if (added?.special && opts.skipSpecial) continue;
      const tok = this.idToToken[id];
      if (tok === undefined) continue;
      tokens.push(tok);
      raw.push(added !== undefined);
    }
    if (this.decoders.length === 0) return tokens.join('');
    for (const d of this.decoders) {
      if (d.kind === 'bytelevel') {
        // Added tokens are stored as their text, not in the byte alphabet.
        const chunks: Buffer[] = tokens.map((t, i) => (raw[i] ? Buffer.from(t, 'utf8') : Buffer.from([...t].map((c) => CHAR_TO_BYTE.get(c) ?? 0x3f))));
        tokens = [new TextDecoder('utf-8', { fatal: false }).decode(Buffer.concat(chunks))];
      } else if (d.kind === 'replace') {
        tokens = tokens.map((t) => t.split(d.from).join(d.to));
      } else if (d.kind === 'bytefallback') {
        const merged: string[] = [];
        let pending: number[] = [];
        const flush = () => {
          if (pending.length) merged.push(new TextDecoder('utf-8', { fatal: false }).decode(Uint8Array.from(pending)));
          pending = [];
        };
        for (const t of tokens) {
          const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(t);
          if (m) pending.push(parseInt(m[1], 16));
          else {
            flush();
            merged.push(t);
          }
        }
        flush();
        tokens = merged;
      } else if (d.kind === 'fuse') {
        tokens = [tokens.join('')];
      } else if (d.kind === 'strip') {
        tokens = tokens.map((t) => {
          let s = t;
          for (let i = 0; i < d.start && s.startsWith(d.content); i++) s = s.slice(d.content.length);
          for (let i = 0; i < d.stop && s.endsWith(d.content); i++) s = s.slice(0, -d.content.length);
          return s;
        });
      } else if (d.kind === 'metaspace') {
        tokens = tokens.map((t, i) => {
          const s = t.split(d.replacement).join(' ');
          return i === 0 && s.startsWith(' ') ? s.slice(1) : s;
        });
      }
    }
    return tokens.join('');
  }
}

function splitMerge(m: string): [string, string] {
  const i = m.indexOf(' ', 1);
  return [m.slice(0, i), m.slice(i + 1)];
}
