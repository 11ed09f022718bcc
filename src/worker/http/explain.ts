/**
 * `POST /explain`, in the shape of Neuronpedia's NLA server: verbalize the activations of a
 * text at some positions and score each verbalization with the AR.
 *
 * It runs through the same queue and batch as `/v1/analyze` (an analyze request with one
 * sample and the SAE block discarded), so both routes share one code path and one batch.
 */
import { z } from 'zod';
import type { AnalyzeRequest } from '../../protocol/analyze';
import { HttpError, parseBody } from './errors';
import type { Route } from './route';

export const ExplainBodySchema = z
  .object({
    text: z.string().min(1, 'text is empty').optional(),
    /** Chat input. Accepted by the schema so the error can say why it is refused. */
    messages: z.array(z.object({ role: z.string(), content: z.string() })).optional(),
    positions: z.array(z.number().int()).min(1).max(64).optional(),
    temperature: z.number().min(0).max(2).optional(),
    max_new_tokens: z.number().int().min(1).max(1024).optional(),
    seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
  })
  .strict();

export const ExplainResultSchema = z.object({
  token: z.string(),
  token_id: z.number().int(),
  position: z.number().int(),
  description: z.string(),
  /** mse_nrm = 2 (1 - cosine_similarity). */
  mse: z.number(),
  cosine_similarity: z.number(),
  fve_nrm: z.number(),
});
export const ExplainResponseSchema = z.object({ layer_index: z.number().int(), results: z.array(ExplainResultSchema) });
export type ExplainResponse = z.infer<typeof ExplainResponseSchema>;

export const explainRoute: Route = {
  method: 'POST',
  path: '/explain',
  auth: true,
  async handle({ body, queue, signal }) {
    const input = parseBody(ExplainBodySchema, await body());
    if (input.text === undefined) {
      throw new HttpError(
        400,
        'invalid_request',
        input.messages
          ? 'messages (chat input) is not supported: this worker analyses plain text; send the already-templated prompt as text.'
          : 'text: required; send the prompt to explain.',
      );
    }
    const request: AnalyzeRequest = {
      prompt: input.text,
      positions: input.positions,
      top_k: 1,
      nla_samples: 1,
      temperature: input.temperature,
      max_new_tokens: input.max_new_tokens,
      seed: input.seed,
      return_activations: false,
    };
    const analysis = await queue.analyze(request, signal);
    const response: ExplainResponse = {
      layer_index: analysis.layer,
      results: analysis.positions.map((p) => {
        const explanation = p.explanations[0];
        return {
          token: p.token,
          token_id: analysis.tokens[p.position]?.id ?? -1,
          position: p.position,
          description: explanation?.text ?? '',
          mse: explanation?.ar.mse_nrm ?? Number.NaN,
          cosine_similarity: explanation?.ar.cosine ?? Number.NaN,
          fve_nrm: explanation?.ar.fve_nrm ?? Number.NaN,
        };
      }),
    };
    return response;
  },
};
