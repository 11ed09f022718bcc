/**
 * `POST /describe`, in the shape of Neuronpedia's NLA server: verbalize raw activation
 * vectors (no prompt), each scored by the AR round trip.
 */
import { z } from 'zod';
import { parseBody } from './errors';
import type { Route } from './route';
import { toActivation, VectorSchema } from './vectors';

/** The reference client's default; generation stops earlier at EOS or `</explanation>`. */
const DEFAULT_MAX_NEW_TOKENS = 200;

export const DescribeBodySchema = z
  .object({
    activations: z.array(VectorSchema).min(1, 'activations: send at least one vector').max(64),
    /** Verbalizations per vector. */
    n: z.number().int().min(1).max(16).default(1),
    temperature: z.number().min(0).max(2).optional(),
    max_new_tokens: z.number().int().min(1).max(1024).default(DEFAULT_MAX_NEW_TOKENS),
    seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
  })
  .strict();

const SampleSchema = z.object({
  description: z.string(),
  raw: z.string(),
  parsed: z.boolean(),
  mse: z.number(),
  cosine_similarity: z.number(),
  fve_nrm: z.number(),
});
export const DescribeResponseSchema = z.object({
  layer_index: z.number().int(),
  /** One per vector; the fields of the first sample are repeated at the top for Neuronpedia tools. */
  results: z.array(SampleSchema.extend({ samples: z.array(SampleSchema) })),
});
export type DescribeResponse = z.infer<typeof DescribeResponseSchema>;

export const describeRoute: Route = {
  method: 'POST',
  path: '/describe',
  auth: true,
  async handle({ body, engine, queue, signal }) {
    const input = parseBody(DescribeBodySchema, await body());
    const caps = engine.capabilities();
    const vectors = input.activations.map((values, i) => toActivation(values, caps.d_model, `activations[${i}]`));
    const sampling = {
      samples: input.n,
      temperature: input.temperature ?? (input.n > 1 ? 1 : 0),
      maxNewTokens: input.max_new_tokens,
      seed: input.seed,
    };
    const described = await queue.task((s) => engine.describe(vectors, sampling, s), signal);
    const response: DescribeResponse = {
      layer_index: caps.layer,
      results: described.map((explanations) => {
        const samples = explanations.map((e) => ({
          description: e.text,
          raw: e.raw,
          parsed: e.parsed,
          mse: e.ar.mse_nrm,
          cosine_similarity: e.ar.cosine,
          fve_nrm: e.ar.fve_nrm,
        }));
        return { ...samples[0], samples };
      }),
    };
    return response;
  },
};
