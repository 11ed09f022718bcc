/**
 * The parts of a Hugging Face `tokenizer.json` this worker reads, turned into pipeline steps
 * (normalizers, pre-tokenizers, decoders). A step it does not implement is refused by name, so
 * a wrong tokenization never happens silently.
 */

export class TokenizerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenizerError';
  }
}

const SPLIT_BEHAVIORS = ['Isolated', 'Removed', 'MergedWithPrevious', 'MergedWithNext'] as const;
export type SplitBehavior = (typeof SPLIT_BEHAVIORS)[number];

export type PreTokenizerStep =
  | { kind: 'split'; regex: RegExp; behavior: SplitBehavior }
  | { kind: 'bytelevel'; addPrefixSpace: boolean; regex: RegExp | null }
  | { kind: 'metaspace'; replacement: string; prependScheme: 'always' | 'first' | 'never' };

export type NormalizerStep = { kind: 'nfc' } | { kind: 'replace'; from: string; to: string } | { kind: 'prepend'; text: string };

export type DecoderStep =
  | { kind: 'bytelevel' }
  | { kind: 'replace'; from: string; to: string }
  | { kind: 'bytefallback' }
  | { kind: 'fuse' }
  | { kind: 'strip'; content: string; start: number; stop: number }
  | { kind: 'metaspace'; replacement: string };

/** The parts of a tokenizer.json this reader uses; other keys are ignored. */
export interface TokenizerJson {
  model?: {
    type?: string;
    vocab?: Record<string, number>;
    merges?: Array<string | [string, string]>;
    byte_fallback?: boolean;
    ignore_merges?: boolean;
    unk_token?: string | null;
    continuing_subword_prefix?: string | null;
    end_of_word_suffix?: string | null;
    [other: string]: unknown;
  };
  added_tokens?: Array<{ id: number; content: string; special?: boolean; lstrip?: boolean; rstrip?: boolean }>;
  normalizer?: PipelineStep | null;
  pre_tokenizer?: PipelineStep | null;
  decoder?: PipelineStep | null;
  [other: string]: unknown;
}

export interface PipelineStep {
  type: string;
  normalizers?: PipelineStep[];
  pretokenizers?: PipelineStep[];
  decoders?: PipelineStep[];
  pattern?: { String?: string; Regex?: string };
  content?: string;
  prepend?: string;
  add_prefix_space?: boolean;
  use_regex?: boolean;
  invert?: boolean;
  behavior?: string;
  replacement?: string;
  prepend_scheme?: 'always' | 'first' | 'never';
  start?: number;
  stop?: number;
  [other: string]: unknown;
}

/** Node 20's RegExp lacks `(?i:...)` groups (Qwen2/Llama-3 patterns use them): expand ASCII letters to classes. */
function toJsRegexSource(src: string): string {
  return src.replace(/\(\?i:((?:[^()\\]|\\.)*)\)/g, (_m, body: string) => {
    let out = '';
    let inClass = false;
    for (let i = 0; i < body.length; i++) {
      const ch = body[i];
      if (ch === '\\') {
        out += ch + body[++i];
        continue;
      }
      if (ch === '[') inClass = true;
      if (ch === ']') inClass = false;
      out += !inClass && /[a-zA-Z]/.test(ch) ? `[${ch.toLowerCase()}${ch.toUpperCase()}]` : ch;
    }
    return `(?:${out})`;
  });
}

export const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** The normalizer of a tokenizer.json as steps; unsupported ones are refused by name. */
export function readNormalizers(n: PipelineStep | null | undefined, source: string): NormalizerStep[] {
  const out: NormalizerStep[] = [];
  if (!n) return out;
  const steps = n.type === 'Sequence' ? (n.normalizers ?? []) : [n];
  for (const s of steps) {
    if (s.type === 'NFC') out.push({ kind: 'nfc' });
    else if (s.type === 'Replace' && s.pattern?.String !== undefined) out.push({ kind: 'replace', from: s.pattern.String, to: s.content ?? '' });
    else if (s.type === 'Prepend') out.push({ kind: 'prepend', text: s.prepend ?? '' });
    else throw new TokenizerError(`${source}: normalizer "${s.type}" is not supported (NFC, Replace with a string pattern, Prepend are)`);
  }
  return out;
}

export function readPreTokenizers(p: PipelineStep | null | undefined, source: string): PreTokenizerStep[] {
  const out: PreTokenizerStep[] = [];
  if (!p) return out;
  const steps = p.type === 'Sequence' ? (p.pretokenizers ?? []) : [p];
  for (const s of steps) {
    if (s.type === 'ByteLevel') {
      const useRegex = s.use_regex ?? true;
      out.push({ kind: 'bytelevel', addPrefixSpace: Boolean(s.add_prefix_space), regex: useRegex ? new RegExp(GPT2_PATTERN, 'gu') : null });
    } else if (s.type === 'Split') {
      if (s.invert) throw new TokenizerError(`${source}: Split pre-tokenizer with invert: true is not supported`);
      const behavior = s.behavior as SplitBehavior;
      if (!SPLIT_BEHAVIORS.includes(behavior)) {
        throw new TokenizerError(`${source}: Split behavior "${s.behavior}" is not supported (Isolated, Removed, MergedWithPrevious, MergedWithNext are)`);
      }
      const src = s.pattern?.Regex !== undefined ? toJsRegexSource(s.pattern.Regex) : escapeRegex(String(s.pattern?.String ?? ''));
      let regex: RegExp;
      try {
        regex = new RegExp(src, 'gu');
      } catch (err) {
        throw new TokenizerError(`${source}: Split pattern cannot be compiled in JavaScript: ${(err as Error).message}`);
      }
      out.push({ kind: 'split', regex, behavior });
    } else if (s.type === 'Metaspace') {
      out.push({ kind: 'metaspace', replacement: s.replacement ?? '▁', prependScheme: s.prepend_scheme ?? (s.add_prefix_space === false ? 'never' : 'always') });
    } else {
      throw new TokenizerError(`${source}: pre_tokenizer "${s.type}" is not supported (ByteLevel, Split, Metaspace are)`);
    }
  }
  return out;
}

export function readDecoders(d: PipelineStep | null | undefined, source: string): DecoderStep[] {
  const out: DecoderStep[] = [];
  if (!d) return out;
  const steps = d.type === 'Sequence' ? (d.decoders ?? []) : [d];
  for (const s of steps) {
    if (s.type === 'ByteLevel') out.push({ kind: 'bytelevel' });
    else if (s.type === 'Replace' && s.pattern?.String !== undefined) out.push({ kind: 'replace', from: s.pattern.String, to: s.content ?? '' });
    else if (s.type === 'ByteFallback') out.push({ kind: 'bytefallback' });
    else if (s.type === 'Fuse') out.push({ kind: 'fuse' });
    else if (s.type === 'Strip') out.push({ kind: 'strip', content: s.content ?? ' ', start: s.start ?? 0, stop: s.stop ?? 0 });
    else if (s.type === 'Metaspace') out.push({ kind: 'metaspace', replacement: s.replacement ?? '▁' });
    else throw new TokenizerError(`${source}: decoder "${s.type}" is not supported (ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace are)`);
  }
  return out;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
