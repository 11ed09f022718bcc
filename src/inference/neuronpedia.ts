/**
 * An inference backend made of Neuronpedia's servers instead of a Confab worker: the NLA
 * server (`POST /explain`) for verbalizations with their AR round trip, and the inference
 * server (`POST /v1/activation/topk-by-token`) for SAE features.
 *
 * Their answers are mapped to AnalyzeResponse as far as they go. What they do not report is
 * marked, not invented:
 * - token ids are known only at explained positions (-1 elsewhere); offsets are found by
 *   matching each token's text in the prompt (empty where it does not match, e.g. BOS);
 * - feature labels are empty (Neuronpedia serves them from another API);
 * - `l0`, `explained_variance` and the SAE's `fve_nrm` are NaN: top-k lists cannot give them;
 * - the AR's `fve_nrm` needs the model's B; without `fveBaseline` it is NaN;
 * - `nla_samples` > 1 makes one /explain call per sample (the server returns one each).
 */
import { z } from 'zod';
import {
  AnalyzeRequestSchema,
  type AnalyzeRequestInput,
  type AnalyzeResponse,
  type Capabilities,
  type PositionResult,
  type Token,
} from '../protocol/analyze';
import type { InferenceClient } from './client';
import { WorkerRejectedError } from './errors';
import { WorkerPool } from './pool';

export interface NeuronpediaClientOptions {
  /** The NLA server (explain/describe/score). */
  nlaUrl: string;
  /** The inference server (SAE activations). */
  inferenceUrl: string;
  secret?: string;
  /** Neuronpedia ids, e.g. model "gemma-3-12b-it", source "32-gemmascope-2-res-16k". */
  model: string;
  source: string;
  /** B of the model's layer (0.7335 Qwen L20, 0.0302 Gemma-12B L32), for the AR's fve_nrm. */
  fveBaseline?: number;
  layer?: number;
  dModel?: number;
  timeoutMs?: number;
  retries?: number;
}

export const NpExplainResponseSchema = z.object({
  layer_index: z.number().int().optional(),
  results: z.array(
    z.object({
      token: z.string(),
      token_id: z.number().int().optional(),
      position: z.number().int(),
      description: z.string(),
      mse: z.number().optional(),
      cosine_similarity: z.number(),
    }),
  ),
});

export const NpTopkByTokenResponseSchema = z.object({
  tokens: z.array(z.string()),
  results: z.array(
    z.object({
      token_position: z.number().int(),
      token: z.string(),
      top_features: z.array(z.object({ feature_index: z.number().int(), activation_value: z.number() })),
    }),
  ),
});

export function createNeuronpediaInferenceClient(options: NeuronpediaClientOptions): InferenceClient {
  const common = { secret: options.secret, timeoutMs: options.timeoutMs, retries: options.retries ?? 1 };
  const nla = new WorkerPool({ urls: [options.nlaUrl], ...common });
  const inference = new WorkerPool({ urls: [options.inferenceUrl], ...common });

  return {
    async analyze(input: AnalyzeRequestInput, signal?: AbortSignal): Promise<AnalyzeResponse> {
      const parsed = AnalyzeRequestSchema.safeParse(input);
      if (!parsed.success) {
        throw new WorkerRejectedError('(client)', 400, 'invalid_request', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      }
      const request = parsed.data;
      const started = performance.now();
      const topk = await inference.request(
        'POST',
        '/v1/activation/topk-by-token',
        // ignore_bos false: every position is reported, so indices match the NLA server's.
        { prompt: request.prompt, model: options.model, source: options.source, top_k: request.top_k, ignore_bos: false },
        NpTopkByTokenResponseSchema,
        signal,
      );
      const saeMs = performance.now() - started;
      const n = topk.tokens.length;
      const positions = (request.positions ?? [-1]).map((p) => {
        const resolved = p < 0 ? n + p : p;
        if (resolved < 0 || resolved >= n) {
          throw new WorkerRejectedError(options.inferenceUrl, 400, 'bad_position', `Position ${p} is out of range; the prompt has ${n} tokens (use 0..${n - 1} or -${n}..-1).`);
        }
        return resolved;
      });

      const avStarted = performance.now();
      const temperature = request.temperature ?? (request.nla_samples > 1 ? 1 : 0);
      const explained: Array<z.infer<typeof NpExplainResponseSchema>> = [];
      for (let s = 0; s < request.nla_samples; s++) {
        explained.push(
          await nla.request(
            'POST',
            '/explain',
            { text: request.prompt, positions, temperature, max_new_tokens: request.max_new_tokens },
            NpExplainResponseSchema,
            signal,
          ),
        );
      }
      const avMs = performance.now() - avStarted;

      const tokenIds = new Map<number, number>();
      for (const answer of explained) for (const r of answer.results) if (r.token_id !== undefined) tokenIds.set(r.position, r.token_id);
      const tokens = alignTokens(request.prompt, topk.tokens, tokenIds);
      const B = options.fveBaseline;
      const results: PositionResult[] = positions.map((position) => {
        const row = topk.results.find((r) => r.token_position === position);
        return {
          position,
          token: topk.tokens[position],
          sae: {
            features: (row?.top_features ?? []).slice(0, request.top_k).map((f) => ({ index: f.feature_index, activation: f.activation_value, label: '' })),
            l0: Number.NaN,
            explained_variance: Number.NaN,
            fve_nrm: Number.NaN,
          },
          explanations: explained.flatMap((answer) =>
            answer.results
              .filter((r) => r.position === position)
              .map((r) => {
                const mse = 2 * (1 - r.cosine_similarity);
                return {
                  text: r.description,
                  raw: r.description,
                  parsed: true,
                  ar: { cosine: r.cosine_similarity, mse_nrm: mse, fve_nrm: B ? 1 - mse / B : Number.NaN },
                };
              }),
          ),
        };
      });
      const total = performance.now() - started;
      return {
        model: options.model,
        layer: explained[0]?.layer_index ?? options.layer ?? -1,
        d_model: options.dModel ?? -1,
        tokens,
        positions: results,
        timings_ms: { tokenize: 0, subject: 0, sae: saeMs, av: avMs, ar: 0, total, queue: 0 },
      };
    },

    async capabilities(): Promise<Capabilities> {
      return {
        model: options.model,
        layer: options.layer ?? -1,
        d_model: options.dModel ?? -1,
        // The inference server enforces its own limit and answers 400 past it.
        max_tokens: -1,
        sae: { width: -1, architecture: 'unknown', hook_name: options.source },
        nla: { av_backend: 'neuronpedia', ar_backend: 'neuronpedia', available: true },
        device: 'remote',
        version: 'neuronpedia',
      };
    },

    async health() {
      return [...(await inference.checkAll()), ...(await nla.checkAll())];
    },

    async close() {
      nla.close();
      inference.close();
    },
  };
}

/** Token texts from the server, located in the prompt left to right. */
export function alignTokens(prompt: string, texts: string[], ids: Map<number, number>): Token[] {
  let cursor = 0;
  return texts.map((text, i) => {
    const at = text.length > 0 && prompt.startsWith(text, cursor) ? cursor : -1;
    if (at < 0) return { id: ids.get(i) ?? -1, text, start: cursor, end: cursor, special: i === 0 && /^<.*>$/.test(text) };
    cursor = at + text.length;
    return { id: ids.get(i) ?? -1, text, start: at, end: cursor, special: false };
  });
}
