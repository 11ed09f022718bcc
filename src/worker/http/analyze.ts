/**
 * `POST /v1/analyze`: tokens, SAE features, NLA explanations with AR scores, per position.
 * The schema is the shared contract in `src/protocol/analyze.ts`; concurrent requests are batched by
 * the work queue into one engine call.
 */
import { AnalyzeRequestSchema } from '../../protocol/analyze';
import { parseBody } from './errors';
import type { Route } from './route';

export { AnalyzeRequestSchema as AnalyzeBodySchema };

export const analyzeRoute: Route = {
  method: 'POST',
  path: '/v1/analyze',
  auth: true,
  async handle({ body, queue, signal }) {
    const request = parseBody(AnalyzeRequestSchema, await body());
    return queue.analyze(request, signal);
  },
};
