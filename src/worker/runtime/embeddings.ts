/**
 * The ONE embedding builder every AV backend (onnx, sglang, vllm) uses, so the injection is
 * identical whichever server generates (notes/nla-sae.md, "AV injection, step by step"):
 *   1. fill the AV template with the injection char (and wrap it in the chat template, in one
 *      step: two steps double BOS on Gemma);
 *   2. tokenize with special tokens allowed (the template is ours, not user text);
 *   3. read the embedding rows from safetensors by offset, times embed_scale;
 *   4. rescale the activation to norm injection_scale, v * scale / ||v|| (not v * scale);
 *   5. overwrite the row at the one site whose token is the injection id AND whose neighbours
 *      match the sidecar's ids. Zero or several sites: refuse.
 *
 * The template never changes, so steps 1-3 and 5's search run once; per vector only a copy
 * and one row write remain.
 */
import { EngineError } from '../engine';
import type { BuiltPrompt } from './av-backend';
import type { AvSpec } from './manifest';
import type { NlaTokens } from './nla-meta';
import { RowReader } from './safetensors';
import type { Tokenizer } from './tokenizer';

/**
 * Index of the single injection site in `ids`: token == injection id, and the left/right
 * neighbours equal the sidecar's ids where it gives them. Throws EngineError otherwise.
 */
export function findInjectionSite(ids: ArrayLike<number>, tokens: NlaTokens): number {
  const sites: number[] = [];
  let bare = 0;
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] !== tokens.injectionTokenId) continue;
    bare++;
    if (tokens.leftNeighborId !== null && (i === 0 || ids[i - 1] !== tokens.leftNeighborId)) continue;
    if (tokens.rightNeighborId !== null && (i + 1 >= ids.length || ids[i + 1] !== tokens.rightNeighborId)) continue;
    sites.push(i);
  }
  if (sites.length !== 1) {
    throw new EngineError(
      500,
      'injection_site',
      `The AV prompt has ${sites.length} injection sites (token ${tokens.injectionTokenId} with neighbours ` +
        `${tokens.leftNeighborId ?? 'any'}/${tokens.rightNeighborId ?? 'any'}; ${bare} bare occurrences); exactly 1 is required. ` +
        'Check the sidecar tokens against the tokenizer.',
    );
  }
  return sites[0];
}

/** Fill the AV template (and the optional chat wrapper) with the injection char. */
export function fillAvTemplate(spec: Pick<AvSpec, 'meta' | 'chatTemplate'>): string {
  const filled = spec.meta.avTemplate.split('{injection_char}').join(spec.meta.tokens.injectionChar);
  return spec.chatTemplate ? spec.chatTemplate.split('{prompt}').join(filled) : filled;
}

/** Check a vector to inject: right width, finite, non-zero (a zero vector has no direction to scale). */
export function checkActivation(v: Float32Array, d: number): void {
  if (v.length !== d) throw new EngineError(400, 'bad_vector', `The vector has ${v.length} values; this model's d_model is ${d}.`);
  let s = 0;
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) throw new EngineError(400, 'bad_vector', `The vector has a non-finite value at index ${i}; all values must be finite.`);
    s += v[i] * v[i];
  }
  if (s === 0) throw new EngineError(400, 'bad_vector', 'The vector is all zeros; it has no direction to verbalize.');
}

/** v * scale / ||v||, with the norm accumulated in float64 (never in the model's bf16). */
export function rescaleTo(v: Float32Array, scale: number, out: Float32Array, outOffset = 0): void {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  const k = scale / Math.sqrt(s);
  for (let i = 0; i < v.length; i++) out[outOffset + i] = v[i] * k;
}

export class AvPromptBuilder {
  private constructor(
    readonly tokenIds: Int32Array,
    /** Template embeddings [T, d], already times embed_scale; never mutated. */
    private readonly baseEmbeds: Float32Array,
    readonly site: number,
    readonly d: number,
    readonly injectionScale: number,
  ) {}

  get T(): number {
    return this.tokenIds.length;
  }

  static async open(spec: AvSpec, tokenizer: Tokenizer, d: number): Promise<AvPromptBuilder> {
    const text = fillAvTemplate(spec);
    const enc = tokenizer.encode(text, { allowSpecial: true });
    const ids = Int32Array.from(enc.ids);
    const site = findInjectionSite(ids, spec.meta.tokens);
    const reader = await RowReader.open(spec.embeddings, spec.embeddingKey);
    try {
      if (reader.cols !== d) throw new EngineError(500, 'bad_model', `${spec.embeddings}: ${spec.embeddingKey} has ${reader.cols} columns; d_model is ${d}.`);
      const embeds = new Float32Array(ids.length * d);
      await reader.readRows(ids, embeds, spec.embedScale);
      return new AvPromptBuilder(ids, embeds, site, d, spec.meta.injectionScale);
    } finally {
      await reader.close();
    }
  }

  /** The prompt for one activation: template embeddings with the rescaled vector at the site. */
  build(activation: Float32Array): BuiltPrompt {
    checkActivation(activation, this.d);
    const embeds = new Float32Array(this.baseEmbeds);
    rescaleTo(activation, this.injectionScale, embeds, this.site * this.d);
    return { tokenIds: this.tokenIds, embeds, site: this.site, T: this.T, d: this.d };
  }
}
