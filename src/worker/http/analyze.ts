/**
 * `POST /v1/analyze`: tokens, SAE features, NLA explanations with AR scores, per position.
 * The schema is the shared contract in `src/protocol/analyze.ts`; concurrent requests are batched by
 * the work queue into one engine call. A prompt longer than the model's character bound is refused
 * here, before it queues or reaches the tokenizer.
 */
import { AnalyzeRequestSchema } from '../../protocol/analyze';
import { promptTooLong } from '../engine';
import { parseBody } from './errors';
import type { Route } from './route';

export { AnalyzeRequestSchema as AnalyzeBodySchema };

export const analyzeRoute: Route = {
  method: 'POST',
  path: '/v1/analyze',
  auth: true,
  async handle({ body, engine, queue, signal }) {
    const request = parseBody(AnalyzeRequestSchema, await body());
    const { max_prompt_chars: charLimit, max_tokens: tokenLimit } = engine.capabilities();
    if (charLimit !== undefined && request.prompt.length > charLimit) throw promptTooLong(request.prompt.length, charLimit, tokenLimit);
    return queue.analyze(request, signal);
  },
};
