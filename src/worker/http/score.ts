/**
 * `POST /score`, in the shape of Neuronpedia's NLA server: the AR round trip of a description
 * against an activation. `mse` is mse_nrm = 2 (1 - cosine), the NLA paper's scale; `fve_nrm`
 * is an addition its clients ignore.
 */
import { z } from 'zod';
import { detailError, parseFastApi, readFastApiBody, validationError } from './fastapi';
import { NLA_LIMITS } from './nla-limits';
import type { Route } from './route';
import { ActivationError, toActivation } from './vectors';

export const ScoreBodySchema = z.object({
  description: z.string().min(1, 'description is empty').max(NLA_LIMITS.max_description_chars),
  activation: z.array(z.number()),
});

export interface ScoreResponse {
  mse: number;
  cosine_similarity: number;
  fve_nrm: number;
}

export const scoreRoute: Route = {
  method: 'POST',
  path: '/score',
  auth: true,
  style: 'nla',
  async handle({ body, engine, queue, signal }) {
    const input = parseFastApi(ScoreBodySchema, await readFastApiBody(body));
    const caps = engine.capabilities();
    if (!caps.nla.available) throw detailError(503, 'This worker has no NLA reconstructor loaded.');
    let vector: Float32Array;
    try {
      vector = toActivation(input.activation, caps.d_model, 'activation');
    } catch (err) {
      if (err instanceof ActivationError) throw validationError([{ loc: ['body', 'activation', ...err.at], msg: err.message, type: 'value_error' }]);
      throw err;
    }
    const [score] = await queue.task(() => engine.score([{ text: input.description, vector }]), signal);
    const response: ScoreResponse = { mse: score.mse_nrm, cosine_similarity: score.cosine, fve_nrm: score.fve_nrm };
    return response;
  },
};
