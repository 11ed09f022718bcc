/**
 * `POST /v1/activation/topk-by-token`, in the shape of Neuronpedia's inference server: the SAE's
 * top features at every token of a prompt, camelCase on the wire.
 *
 * As there, snake_case names are accepted too (its schemas populate by name), unknown fields
 * are ignored, `topK` defaults to 5 and is clamped to the SAE's width, and `ignoreBos` drops
 * the BOS from both lists while `tokenPosition` stays an index into the whole prompt. `model`
 * and `source` are accepted and not matched: this worker serves one model and one SAE, and
 * Neuronpedia ids ("gemma-2-2b", "20-gemmascope-res-16k") need not equal the manifest name.
 */
import { z } from 'zod';
import type { Engine } from '../engine';
import { parseFastApi, readFastApiBody } from './fastapi';
import type { Route } from './route';

const DEFAULT_TOP_K = 5;

const SNAKE_TO_CAMEL: Record<string, string> = { top_k: 'topK', ignore_bos: 'ignoreBos' };

export const TopkByTokenBodySchema = z.preprocess(
  (raw) => {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw;
    const body: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
    for (const [snake, camel] of Object.entries(SNAKE_TO_CAMEL)) if (!(camel in body) && snake in body) body[camel] = body[snake];
    return body;
  },
  z.object({
    prompt: z.string().min(1, 'prompt is empty'),
    model: z.string().optional(),
    source: z.string().optional(),
    topK: z.number().int().nullable().optional(),
    ignoreBos: z.boolean().default(true),
  }),
);

export interface TopkByTokenResponse {
  tokens: string[];
  results: Array<{
    tokenPosition: number;
    token: string;
    isSpecial: boolean;
    topFeatures: Array<{ featureIndex: number; activationValue: number }>;
  }>;
}

/**
 * Whether the engine's prompts start with a BOS, learnt once per engine from one answer: the
 * engine drops BOS from its results on request but always lists it among the tokens, and user
 * text never yields any other special token.
 */
const startsWithBos = new WeakMap<Engine, boolean>();

export const topkByTokenRoute: Route = {
  method: 'POST',
  path: '/v1/activation/topk-by-token',
  auth: true,
  style: 'inference',
  async handle({ body, engine, queue, signal }) {
    const input = parseFastApi(TopkByTokenBodySchema, await readFastApiBody(body));
    const width = engine.capabilities().sae.width;
    const topK = Math.max(1, Math.min(input.topK ?? DEFAULT_TOP_K, width > 0 ? width : Number.MAX_SAFE_INTEGER));
    let known = startsWithBos.get(engine);
    let answer = await queue.task(() => engine.topkByToken(input.prompt, topK, known === undefined ? true : input.ignoreBos), signal);
    if (known === undefined) {
      known = answer.results.length < answer.tokens.length;
      startsWithBos.set(engine, known);
      if (known && !input.ignoreBos) answer = await queue.task(() => engine.topkByToken(input.prompt, topK, false), signal);
    }
    const dropped = known && input.ignoreBos ? 1 : 0;
    const response: TopkByTokenResponse = {
      tokens: answer.tokens.slice(dropped),
      results: answer.results.map((r) => ({
        tokenPosition: r.token_position,
        token: r.token,
        isSpecial: known && r.token_position === 0,
        topFeatures: r.top_features.map((f) => ({ featureIndex: f.feature_index, activationValue: f.activation_value })),
      })),
    };
    return response;
  },
};
