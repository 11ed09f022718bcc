/**
 * The two pluggable NLA halves, as the engine sees them.
 *
 * AV backends (onnx, sglang, vllm) all receive prompts already embedded by the ONE embedding
 * builder (`embeddings.ts`): template tokens, embedding rows read from safetensors times the
 * embed scale, and the activation rescaled to `injection_scale` at the neighbour-checked site.
 * A backend never tokenizes or injects by itself, so the three cannot drift apart.
 *
 * AR backends return a cosine per (text, vector) pair. A local ONNX AR computes the vector and
 * the cosine; a remote Neuronpedia NLA server's `POST /score` returns `cosine_similarity`
 * directly. Cosine is the one quantity both can give, and `mse_nrm` and `fve_nrm` follow from it
 * (`metrics.ts`), so the engine computes those once, for every backend alike.
 */
import type { SamplingOptions } from '../engine';

export type { SamplingOptions } from '../engine';

/** One AV prompt with the activation injected, ready for `inputs_embeds` / `input_embeds` / `prompt_embeds`. */
export interface BuiltPrompt {
  /** Token ids of the filled template (the injection site still holds the injection token id). */
  tokenIds: Int32Array;
  /** Row-major float32 [T, d]: embedding rows times embed_scale, the site row replaced by the scaled activation. */
  embeds: Float32Array;
  /** Index of the injected row. */
  site: number;
  /** Number of template tokens. */
  T: number;
  /** Model width. */
  d: number;
}

/**
 * The highest temperature a remote AV server accepts, where it is below what the NLA routes
 * take: vLLM's SamplingParams refuses more than 2. SGLang checks only that a temperature is
 * finite and non-negative, and local sampling has no cap, so neither is listed.
 */
export const AV_MAX_TEMPERATURE: Readonly<Record<string, number>> = { vllm: 2 };

export interface AvBackend {
  readonly name: string;
  /**
   * Generate `sampling.samples` continuations per prompt. The result is parallel to `prompts`;
   * each entry holds `sampling.samples` decoded texts (the continuation only, not the template).
   * When `sampling.seed` is set, the same inputs give the same texts (local backends exactly;
   * remote ones as far as the server honours a seed).
   */
  generate(prompts: BuiltPrompt[], sampling: SamplingOptions, signal?: AbortSignal): Promise<string[][]>;
  close(): Promise<void>;
}

export interface ArItem {
  /** The explanation text (not the filled AR template: the backend fills its own template). */
  text: string;
  /** The activation the text claims to describe, raw (not normalised), float32 [d]. */
  vector: Float32Array;
}

export interface ArBackend {
  readonly name: string;
  /**
   * Cosine between the AR's reconstruction of each text and its vector; parallel to `items`.
   * Remote `/score` fits this directly (`cosine_similarity`).
   */
  cosines(items: ArItem[], signal?: AbortSignal): Promise<number[]>;
  /**
   * The reconstructed vectors themselves, when the backend can give them (local ONNX). A remote
   * `/score` cannot, and leaves this undefined.
   */
  vectors?(texts: string[], signal?: AbortSignal): Promise<Float32Array[]>;
  close(): Promise<void>;
}
