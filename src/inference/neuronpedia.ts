/**
 * An inference backend made of Neuronpedia's servers instead of a Confab worker: the NLA
 * server (`POST /explain`) for verbalizations with their AR round trip, and the inference
 * server (`POST /v1/activation/topk-by-token`) for SAE features. Selected by
 * CONFAB_NEURONPEDIA (neuronpedia-setting.ts).
 *
 * The inference server's wire is camelCase today; a server from before that rewrite speaks
 * snake_case, and is asked again in that shape once it refuses the camelCase request. Their
 * answers are mapped to AnalyzeResponse as far as they go. What they do not report is marked,
 * not invented:
 * - token ids are known only at explained positions (-1 elsewhere); offsets are found by
 *   matching each token's text in the prompt (empty where it does not match, e.g. BOS);
 * - feature labels are empty (Neuronpedia serves them from another API);
 * - `explained_variance` and the SAE's `fve_nrm` are NaN, and `l0` is null: top-k lists cannot
 *   give them, and every view shows them as "n/a";
 * - a round trip the NLA server did not compute (no reconstructor: `mse` and
 *   `cosine_similarity` null) is NaN, which every view shows as "n/a";
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
import type { NeuronpediaSetting } from './neuronpedia-setting';
import { WorkerPool } from './pool';

export interface NeuronpediaClientOptions extends NeuronpediaSetting {
  secret?: string;
  layer?: number;
  dModel?: number;
  timeoutMs?: number;
  retries?: number;
}

const nullableNumber = z.number().nullable().optional();

export const NpExplainResponseSchema = z.object({
  layer_index: z.number().int().optional(),
  results: z.array(
    z.object({
      token: z.string(),
      token_id: z.number().int().optional(),
      position: z.number().int(),
      description: z.string(),
      l2_norm: z.number().optional(),
      mse: nullableNumber,
      cosine_similarity: nullableNumber,
    }),
  ),
});

const CamelTopkSchema = z.object({
  tokens: z.array(z.string()),
  results: z.array(
    z.object({
      tokenPosition: z.number().int(),
      token: z.string(),
      isSpecial: z.boolean().optional(),
      topFeatures: z.array(z.object({ featureIndex: z.number().int(), activationValue: z.number() })),
    }),
  ),
});

const SnakeTopkSchema = z.object({
  tokens: z.array(z.string()),
  results: z.array(
    z.object({
      token_position: z.number().int(),
      token: z.string(),
      top_features: z.array(z.object({ feature_index: z.number().int(), activation_value: z.number() })),
    }),
  ),
});

/** Either wire, as one shape. */
export const NpTopkByTokenResponseSchema = z.union([CamelTopkSchema, SnakeTopkSchema]).transform((answer) => ({
  tokens: answer.tokens,
  results: answer.results.map((r) =>
    'tokenPosition' in r
      ? { position: r.tokenPosition, token: r.token, features: r.topFeatures.map((f) => ({ index: f.featureIndex, activation: f.activationValue })) }
      : { position: r.token_position, token: r.token, features: r.top_features.map((f) => ({ index: f.feature_index, activation: f.activation_value })) },
  ),
}));

export const NlaHealthSchema = z
  .object({
    status: z.string(),
    d_model: z.number().int().nullable().optional(),
    extraction_layer: z.number().int().nullable().optional(),
    reconstructor_available: z.boolean(),
    reconstructor_max_concurrent: z.number().int().optional(),
    limits: z.object({ max_positions_per_request: z.number().int(), max_new_tokens: z.number().int() }).loose().optional(),
  })
  .loose();

export type TopkWire = 'camelCase' | 'snake_case';

/** The inference server's topk-by-token in whichever wire it speaks, remembering which. */
export function topkCaller(pool: WorkerPool, setting: NeuronpediaSetting) {
  let wire: TopkWire = 'camelCase';
  return {
    wire: () => wire,
    async call(prompt: string, topK: number, signal?: AbortSignal) {
      // ignoreBos false: every position is reported, so indices match the NLA server's.
      const camel = { prompt, model: setting.model, source: setting.source, topK, ignoreBos: false };
      const snake = { prompt, model: setting.model, source: setting.source, top_k: topK, ignore_bos: false };
      if (wire === 'snake_case') return pool.request('POST', '/v1/activation/topk-by-token', snake, NpTopkByTokenResponseSchema, signal);
      try {
        return await pool.request('POST', '/v1/activation/topk-by-token', camel, NpTopkByTokenResponseSchema, signal);
      } catch (err) {
        // A server from before the camelCase rewrite misses its required `ignore_bos`.
        if (!(err instanceof WorkerRejectedError) || (err.status !== 422 && err.status !== 400)) throw err;
        const answer = await pool.request('POST', '/v1/activation/topk-by-token', snake, NpTopkByTokenResponseSchema, signal);
        wire = 'snake_case';
        return answer;
      }
    },
  };
}

export function neuronpediaPools(options: NeuronpediaClientOptions) {
  const common = { secret: options.secret, timeoutMs: options.timeoutMs, retries: options.retries ?? 1 };
  return {
    // The NLA server's health route is `GET /`; the inference server's is `GET /health`.
    nla: new WorkerPool({ urls: [options.nlaUrl], ...common, healthPath: '/' }),
    inference: new WorkerPool({ urls: [options.inferenceUrl], ...common }),
  };
}

function arScore(mse: number | null | undefined, cosine: number | null | undefined, B: number | undefined) {
  if (cosine === null || cosine === undefined) return { cosine: Number.NaN, mse_nrm: Number.NaN, fve_nrm: Number.NaN };
  const mseNrm = 2 * (1 - cosine);
  return { cosine, mse_nrm: mseNrm, fve_nrm: B ? 1 - mseNrm / B : Number.NaN };
}

export function createNeuronpediaInferenceClient(options: NeuronpediaClientOptions): InferenceClient {
  const { nla, inference } = neuronpediaPools(options);
  const topk = topkCaller(inference, options);

  return {
    async analyze(input: AnalyzeRequestInput, signal?: AbortSignal): Promise<AnalyzeResponse> {
      const parsed = AnalyzeRequestSchema.safeParse(input);
      if (!parsed.success) {
        throw new WorkerRejectedError('(client)', 400, 'invalid_request', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      }
      const request = parsed.data;
      const started = performance.now();
      const sae = await topk.call(request.prompt, request.top_k, signal);
      const saeMs = performance.now() - started;
      const n = sae.tokens.length;
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
        const body: Record<string, unknown> = { text: request.prompt, positions, reverse: false, temperature };
        if (request.max_new_tokens !== undefined) body.max_new_tokens = request.max_new_tokens;
        explained.push(await nla.request('POST', '/explain', body, NpExplainResponseSchema, signal));
      }
      const avMs = performance.now() - avStarted;

      const tokenIds = new Map<number, number>();
      for (const answer of explained) for (const r of answer.results) if (r.token_id !== undefined) tokenIds.set(r.position, r.token_id);
      const tokens = alignTokens(request.prompt, sae.tokens, tokenIds);
      const results: PositionResult[] = positions.map((position) => {
        const row = sae.results.find((r) => r.position === position);
        return {
          position,
          token: sae.tokens[position],
          sae: {
            features: (row?.features ?? []).slice(0, request.top_k).map((f) => ({ ...f, label: '' })),
            l0: null,
            explained_variance: Number.NaN,
            fve_nrm: Number.NaN,
          },
          explanations: explained.flatMap((answer) =>
            answer.results
              .filter((r) => r.position === position)
              .map((r) => ({ text: r.description, raw: r.description, parsed: true, ar: arScore(r.mse, r.cosine_similarity, options.fveBaseline) })),
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

    async capabilities(signal?: AbortSignal): Promise<Capabilities> {
      const health = await nla.request('GET', '/', undefined, NlaHealthSchema, signal);
      return {
        model: options.model,
        layer: health.extraction_layer ?? options.layer ?? -1,
        d_model: health.d_model ?? options.dModel ?? -1,
        // The inference server enforces its own token limit and answers 400 past it.
        max_tokens: -1,
        sae: { width: -1, architecture: 'unknown', hook_name: options.source },
        nla: { av_backend: 'neuronpedia', ar_backend: health.reconstructor_available ? 'neuronpedia' : 'none', available: true },
        device: 'remote',
        version: `neuronpedia (topk-by-token ${topk.wire()})`,
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
