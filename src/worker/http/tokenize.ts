/**
 * `POST /v1/tokenize`: the prompt's token count and the model's context, so that the bot can
 * refuse a prompt that does not fit before it queues an analysis. The engine's tokenizer is the
 * one place that decides; a prompt over the limit gets the same 400 `prompt_too_long` that
 * `/v1/analyze` would give. It does not queue: tokenizing costs far less than a batch.
 */
import { TokenizeRequestSchema, type TokenizeResponse } from '../../protocol/analyze';
import { promptTooLong } from '../engine';
import { parseBody } from './errors';
import type { Route } from './route';

export const tokenizeRoute: Route = {
  method: 'POST',
  path: '/v1/tokenize',
  auth: true,
  async handle({ body, engine }) {
    const { prompt } = parseBody(TokenizeRequestSchema, await body());
    const { max_prompt_chars: charLimit, max_tokens: tokenLimit } = engine.capabilities();
    if (charLimit !== undefined && prompt.length > charLimit) throw promptTooLong(prompt.length, charLimit, tokenLimit);
    const response: TokenizeResponse = { tokens: await engine.countTokens(prompt), max_tokens: tokenLimit };
    return response;
  },
};
