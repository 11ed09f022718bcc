/**
 * The model's context, reported by the worker: `/health` carries it, and `POST /v1/tokenize`
 * counts a prompt's tokens, or refuses one that does not fit with the count and the limit, so
 * the bot can refuse it before queueing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenizeResponseSchema } from '../../../src/protocol/analyze';
import { HealthResponseSchema } from '../../../src/worker/http/health';
import type { RuntimeEngine } from '../../../src/worker/runtime/engine';
import type { WorkerServer } from '../../../src/worker/server';
import { call, loadReferenceEngine, SECRET, serve } from './reference-worker';

let engine: RuntimeEngine;
let worker: WorkerServer;
beforeAll(async () => {
  engine = await loadReferenceEngine();
  worker = await serve(engine, { secret: SECRET });
}, 120_000);
afterAll(async () => {
  await worker?.close();
  await engine?.close();
});

describe('the model context in /health and /v1/tokenize', () => {
  it('/health reports the context length in tokens, without the secret', async () => {
    const answer = await call(`${worker.url}/health`, { secret: null });
    expect(answer.status).toBe(200);
    expect(HealthResponseSchema.parse(answer.body).max_tokens).toBe(128);
  });

  it('counts the tokens the model reads, BOS included', async () => {
    const answer = await call(`${worker.url}/v1/tokenize`, { body: { prompt: 'Short' } });
    expect(answer.status).toBe(200);
    expect(TokenizeResponseSchema.parse(answer.body)).toEqual({ tokens: 6, max_tokens: 128 });
    // The same count the analysis sees.
    const [analysed] = await engine.analyzeBatch([{ prompt: 'Short', top_k: 1, nla_samples: 0, return_activations: false }]);
    expect('tokens' in analysed && analysed.tokens.length).toBe(6);
  });

  it('refuses a prompt over the context in tokens, with the limit, the same way /v1/analyze does', async () => {
    // 80 UTF-16 units, inside the character bound, but 160 bytes: one token each on this stack.
    const prompt = '🍕'.repeat(40);
    const tokenized = await call(`${worker.url}/v1/tokenize`, { body: { prompt } });
    expect(tokenized.status).toBe(400);
    expect(tokenized.body).toEqual({ error: 'prompt_too_long', detail: 'Prompt is 161 tokens (with BOS); the limit is 128.' });
    const analysed = await call(`${worker.url}/v1/analyze`, { body: { prompt, nla_samples: 0 } });
    expect(analysed.body).toEqual(tokenized.body);
  });

  it('refuses a prompt far past the bound by its characters, before tokenizing', async () => {
    const answer = await call(`${worker.url}/v1/tokenize`, { body: { prompt: 'x'.repeat(100_000) } });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ error: 'prompt_too_long', detail: 'Prompt is 100,000 characters; the limit is 127 characters (this model reads at most 128 tokens).' });
  });

  it('rejects bad bodies and a missing secret with what was wrong', async () => {
    const url = `${worker.url}/v1/tokenize`;
    const cases: Array<[unknown, RegExp]> = [
      [{ prompt: '' }, /prompt is empty/],
      [{ prompt: 42 }, /prompt/],
      [{}, /prompt/],
      [{ prompt: 'a', extra: 1 }, /extra/],
      [[1, 2], /expected object/i],
    ];
    for (const [body, detail] of cases) {
      const answer = await call(url, { body });
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect((answer.body as { detail: string }).detail).toMatch(detail);
    }
    expect((await call(url, { raw: '{"prompt": ' })).status).toBe(400);
    expect((await call(url, { body: { prompt: 'a' }, secret: null })).status).toBe(401);
    expect((await call(url, { body: { prompt: 'a' }, secret: 'wrong' })).status).toBe(401);
  });
});
