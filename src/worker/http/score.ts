/**
 * `POST /score`, in the shape of Neuronpedia's NLA server: the AR round trip of a description
 * against an activation. `mse` is mse_nrm = 2 (1 - cosine), the NLA paper's scale.
 */
import { z } from 'zod';
import { parseBody } from './errors';
import type { Route } from './route';
import { toActivation, VectorSchema } from './vectors';

export const ScoreBodySchema = z
  .object({
    description: z.string().min(1, 'description is empty'),
    activation: VectorSchema,
  })
  .strict();

export const ScoreResponseSchema = z.object({ mse: z.number(), cosine_similarity: z.number(), fve_nrm: z.number() });
export type ScoreResponse = z.infer<typeof ScoreResponseSchema>;

export const scoreRoute: Route = {
  method: 'POST',
  path: '/score',
  auth: true,
  async handle({ body, engine, queue, signal }) {
    const input = parseBody(ScoreBodySchema, await body());
    const vector = toActivation(input.activation, engine.capabilities().d_model, 'activation');
    const [score] = await queue.task(() => engine.score([{ text: input.description, vector }]), signal);
    const response: ScoreResponse = { mse: score.mse_nrm, cosine_similarity: score.cosine, fve_nrm: score.fve_nrm };
    return response;
  },
};
