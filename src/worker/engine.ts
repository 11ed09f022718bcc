/**
 * The seam between the worker's HTTP edge (routes, queue, batching) and its model runtime.
 *
 * The runtime (`src/worker/runtime/`) implements `Engine`; the HTTP layer
 * (`src/worker/http/`) owns the bounded queue and calls `analyzeBatch` with whatever
 * requests arrived together, so that one forward pass of the subject model, the SAE and the
 * AR serves all of them.
 */
import type { AnalyzeRequest, AnalyzeResponse, ArScore, Capabilities, Explanation } from '../protocol/analyze';

/** An error with an HTTP status and a stable code, raised for bad input or missing pieces. */
export class EngineError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

/**
 * A prompt refused by its length before tokenizing; one wording for the HTTP edge and the
 * runtime, which both check.
 */
export function promptTooLong(chars: number, charLimit: number, tokenLimit: number): EngineError {
  return new EngineError(
    400,
    'prompt_too_long',
    `Prompt is ${chars.toLocaleString('en-US')} characters; the limit is ${charLimit.toLocaleString('en-US')} characters (this model reads at most ${tokenLimit.toLocaleString('en-US')} tokens).`,
  );
}

/**
 * A request as the worker's own routes may send it, beyond what the wire accepts: `/explain`'s
 * chat, already rendered with the model's template, whose markers are the tokenizer's special
 * tokens and are matched as such, as Hugging Face's tokenizers do on a rendered template. Text
 * from `/v1/analyze` never is.
 */
export type EngineRequest = AnalyzeRequest & { rendered_chat?: boolean };

export interface SamplingOptions {
  /** NLA verbalizations per vector. */
  samples: number;
  /** 0 = greedy. */
  temperature: number;
  maxNewTokens: number;
  seed?: number;
}

export interface TopkByTokenResult {
  tokens: string[];
  results: Array<{
    token_position: number;
    token: string;
    top_features: Array<{ feature_index: number; activation_value: number }>;
  }>;
}

export interface Engine {
  capabilities(): Capabilities;

  /**
   * How many calls the engine runs at once (default 1). An engine on threads with a copy of
   * the models each takes one call per thread; the work queue runs that many batches side by
   * side. It may grow while the engine runs (threads that load after the first).
   */
  readonly concurrency?: number;

  /** Calls `listener` after `concurrency` has grown, so that waiting work takes the new lane. */
  onConcurrencyChange?(listener: () => void): void;

  /**
   * Analyse several requests in shared forward passes. The result array is parallel to
   * `requests`; a request that is itself bad (e.g. a position out of range) yields an
   * EngineError in its slot without failing the others.
   */
  analyzeBatch(requests: EngineRequest[], signal?: AbortSignal): Promise<Array<AnalyzeResponse | EngineError>>;

  /** NLA AV on raw vectors (Neuronpedia `/describe`). One list of explanations per vector. */
  describe(vectors: Float32Array[], sampling: SamplingOptions, signal?: AbortSignal): Promise<Explanation[][]>;

  /** NLA AR round trip of a text against a vector (Neuronpedia `/score`). */
  score(items: Array<{ text: string; vector: Float32Array }>): Promise<ArScore[]>;

  /**
   * Tokens the model reads for `prompt` (BOS included). Throws a 400 `prompt_too_long`, with the
   * count and the limit, when the prompt does not fit: the one check of a prompt's length.
   */
  countTokens(prompt: string): Promise<number>;

  /** SAE top features for every token (Neuronpedia `/v1/activation/topk-by-token`). */
  topkByToken(prompt: string, topK: number, ignoreBos: boolean): Promise<TopkByTokenResult>;

  close(): Promise<void>;
}
