/**
 * `POST /v1/activation/topk-by-token`, in the shape of Neuronpedia's inference server: the SAE's
 * top features at every token of a prompt.
 *
 * `model` and `source` are accepted and not matched: this worker serves one model and one SAE,
 * and Neuronpedia ids ("gemma-2-2b", "20-gemmascope-res-16k") need not equal the manifest name.
 */
import { z } from 'zod';
import { parseBody } from './errors';
import type { Route } from './route';

export const TopkByTokenBodySchema = z
  .object({
    prompt: z.string().min(1, 'prompt is empty'),
    model: z.string().optional(),
    source: z.string().optional(),
    top_k: z.number().int().min(1).max(128).default(5),
    ignore_bos: z.boolean().default(true),
  })
  .strict();

export const TopkByTokenResponseSchema = z.object({
  tokens: z.array(z.string()),
  results: z.array(
    z.object({
      token_position: z.number().int(),
      token: z.string(),
      top_features: z.array(z.object({ feature_index: z.number().int(), activation_value: z.number() })),
    }),
  ),
});
export type TopkByTokenResponse = z.infer<typeof TopkByTokenResponseSchema>;

export const topkByTokenRoute: Route = {
  method: 'POST',
  path: '/v1/activation/topk-by-token',
  auth: true,
  async handle({ body, engine, queue, signal }) {
    const input = parseBody(TopkByTokenBodySchema, await body());
    const result: TopkByTokenResponse = await queue.task(() => engine.topkByToken(input.prompt, input.top_k, input.ignore_bos), signal);
    return result;
  },
};
