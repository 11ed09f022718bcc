/**
 * Tiny artifacts written into a temp folder, in the same formats as models/reference, so the
 * loaders can be tested without the trained stack.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { encodeSafetensors } from '../../../src/worker/runtime/safetensors';
import type { TokenizerJson } from '../../../src/worker/runtime/tokenizer-config';
import { bytesToUnicode } from '../../../src/worker/runtime/byte-level';
import { mulberry32 } from '../../../src/worker/runtime/av-onnx';

export const SPECIALS = ['<|bos|>', '<|eos|>', '<|pad|>', '㈎'];

/** The reference stack's tokenizer: bytes 0..255, specials 256..259, no merges, no regex. */
export function byteTokenizerJson(opts: { merges?: string[]; extraVocab?: string[]; useRegex?: boolean; preTokenizer?: TokenizerJson['pre_tokenizer']; normalizer?: TokenizerJson['normalizer'] } = {}): TokenizerJson {
  const b2u = bytesToUnicode();
  const vocab: Record<string, number> = {};
  b2u.forEach((c, b) => (vocab[c] = b));
  let next = 256 + SPECIALS.length;
  for (const tok of opts.extraVocab ?? []) vocab[tok] = next++;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.map((content, i) => ({ id: 256 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: opts.normalizer ?? null,
    pre_tokenizer: opts.preTokenizer ?? { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: opts.useRegex ?? false },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: opts.merges ?? [] },
  };
}

/** Deterministic pseudo-random floats in [-0.5, 0.5) for weights. */
export function rng(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() - 0.5;
}

export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r() * scale);
}

export interface FixtureOptions {
  d?: number;
  dSae?: number;
  layer?: number;
  /** Left/right neighbour ids in the AV sidecar (the default template gives '<' = 60 and '>' = 62). */
  neighbors?: [number | null, number | null];
  avTemplate?: string;
  saeCfg?: Record<string, unknown>;
}

/**
 * A manifest folder in the reference layout (ONNX files are placeholders: the manifest loader
 * only checks that they exist).
 */
export function writeFixtureStack(opts: FixtureOptions = {}): string {
  const d = opts.d ?? 8;
  const dSae = opts.dSae ?? 16;
  const layer = opts.layer ?? 2;
  const dir = mkdtempSync(path.join(tmpdir(), 'confab-stack-'));
  for (const sub of ['sae', 'nla/av', 'nla/ar']) mkdirSync(path.join(dir, sub), { recursive: true });
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(byteTokenizerJson()));
  writeFileSync(path.join(dir, 'subject.onnx'), 'placeholder');
  writeFileSync(path.join(dir, 'nla/av/decoder.onnx'), 'placeholder');
  writeFileSync(path.join(dir, 'nla/ar/ar.onnx'), 'placeholder');
  writeFileSync(
    path.join(dir, 'stats.json'),
    JSON.stringify({ d_model: d, layer, n_reference: 10, mu: Array(d).fill(0), B: 0.5, raw_mean: Array(d).fill(0), raw_total_variance: 4, norm_mean: 2, norm_std: 0.5 }),
  );
  writeFileSync(
    path.join(dir, 'sae/cfg.json'),
    JSON.stringify({
      architecture: 'topk', d_in: d, d_sae: dSae, k: 4, dtype: 'float32', apply_b_dec_to_input: true, normalize_activations: 'none',
      rescale_acts_by_decoder_norm: false, metadata: { hook_name: `blocks.${layer}.hook_resid_post`, model_name: 'fixture' }, ...opts.saeCfg,
    }),
  );
  writeFileSync(
    path.join(dir, 'sae/sae_weights.safetensors'),
    encodeSafetensors({
      W_enc: { shape: [d, dSae], data: randomArray(d * dSae, 1) },
      b_enc: { shape: [dSae], data: randomArray(dSae, 2, 0.1) },
      W_dec: { shape: [dSae, d], data: randomArray(dSae * d, 3) },
      b_dec: { shape: [d], data: randomArray(d, 4, 0.1) },
    }),
  );
  writeFileSync(path.join(dir, 'sae/labels.json'), JSON.stringify(Array.from({ length: dSae }, (_, index) => ({ index, description: `feature ${index}`, typeName: 'fixture' }))));
  const V = 256 + SPECIALS.length;
  const emb = new Float32Array(V * d);
  for (let v = 0; v < V; v++) for (let j = 0; j < d; j++) emb[v * d + j] = v + j / 100; // row v holds v.jj: easy to check
  writeFileSync(path.join(dir, 'nla/av/model.safetensors'), encodeSafetensors({ 'embed_tokens.weight': { shape: [V, d], data: emb } }));
  const [left, right] = opts.neighbors ?? [60, 62];
  const avTemplate = opts.avTemplate ?? '<|bos|>act <{injection_char}> says <explanation>';
  writeFileSync(
    path.join(dir, 'nla/av/nla_meta.yaml'),
    [
      'schema_version: 2',
      'kind: nla_model',
      'role: av',
      `d_model: ${d}`,
      `extraction: {layer_index: ${layer}, injection_scale: 3.0, mse_scale: null}`,
      `tokens: {injection_char: "㈎", injection_token_id: 259, injection_left_neighbor_id: ${left ?? 'null'}, injection_right_neighbor_id: ${right ?? 'null'}}`,
      'prompt_templates:',
      `  av: ${JSON.stringify(avTemplate)}`,
      '  ar: "<|bos|>{explanation}"',
      '',
    ].join('\n'),
  );
  writeFileSync(
    path.join(dir, 'nla/ar/nla_meta.yaml'),
    ['schema_version: 2', 'kind: nla_model', 'role: ar', `d_model: ${d}`, `extraction: {layer_index: ${layer}, injection_scale: null, mse_scale: null}`, 'prompt_templates:', `  av: ${JSON.stringify(avTemplate)}`, '  ar: "<|bos|>{explanation}"', ''].join('\n'),
  );
  writeFileSync(
    path.join(dir, 'manifest.yaml'),
    `name: fixture
subject: {onnx: subject.onnx, tokenizer: tokenizer.json, layer: ${layer}, d_model: ${d}, max_tokens: 32, bos_token_id: 256, hidden_output: hidden}
sae: {path: sae, labels: sae/labels.json}
nla:
  av: {path: nla/av, backend: onnx, onnx: decoder.onnx, embeddings: model.safetensors, embedding_key: embed_tokens.weight, embed_scale: 1.0, eos_token_id: 257, max_new_tokens: 16}
  ar: {path: nla/ar, backend: onnx, onnx: ar.onnx}
stats: stats.json
execution_provider: cpu
`,
  );
  return dir;
}
