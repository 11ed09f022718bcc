/**
 * The worker's Neuronpedia routes on the real reference stack, every answer checked against
 * the owners' wire contract (schemas/, Ajv 2020-12): GET /, /explain (text, chat, stream),
 * /describe, /score and /v1/activation/topk-by-token, their auth, and their bad input, with
 * the worker still healthy after each.
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFERENCE_MODELS } from '../../src/config';
import { AnalyzeResponseSchema, decodeActivation } from '../../src/protocol/analyze';
import { loadChatTemplate } from '../../src/worker/http/chat';
import { NLA_LIMITS } from '../../src/worker/http/nla-limits';
import type { RuntimeEngine } from '../../src/worker/runtime/engine';
import type { WorkerServer } from '../../src/worker/server';
import { call, loadReferenceEngine, SECRET, serve } from '../worker/http/reference-worker';
import { expectValid, sseFrames } from './contract';

let engine: RuntimeEngine;
let worker: WorkerServer;
let d: number;

beforeAll(async () => {
  engine = await loadReferenceEngine();
  worker = await serve(engine, { secret: SECRET, chatTemplate: loadChatTemplate(REFERENCE_MODELS) });
  d = engine.capabilities().d_model;
});

afterAll(async () => {
  await worker?.close();
  await engine?.close();
});

const nla = (path: string, body?: unknown, secret?: string | null) => call(`${worker.url}${path}`, { body, secret });

async function activationOf(prompt: string, position: number): Promise<number[]> {
  const analysis = AnalyzeResponseSchema.parse((await nla('/v1/analyze', { prompt, positions: [position], nla_samples: 0, return_activations: true })).body);
  return Array.from(decodeActivation(analysis.positions[0].activation!));
}

/** A 422 in FastAPI's shape whose entry names `field`. */
function expect422(answer: { status: number; body: unknown }, field: Array<string | number>, msg?: RegExp) {
  expect(answer.status, JSON.stringify(answer.body)).toBe(422);
  expectValid('nla', 'HTTPValidationError', answer.body);
  const detail = (answer.body as { detail: Array<{ loc: unknown[]; msg: string }> }).detail;
  const entry = detail.find((e) => JSON.stringify(e.loc.slice(0, field.length + 1)) === JSON.stringify(['body', ...field]));
  expect(entry, JSON.stringify(detail)).toBeDefined();
  if (msg) expect(entry!.msg).toMatch(msg);
}

async function expectHealthy() {
  const health = await nla('/');
  expect(health.status).toBe(200);
  expectValid('nla', 'HealthResponse', health.body);
}

describe('GET / (NLA health)', () => {
  it('answers the spec\'s HealthResponse: d_model, layer, limits, concurrency', async () => {
    const answer = await nla('/');
    expect(answer.status).toBe(200);
    expectValid('nla', 'HealthResponse', answer.body);
    expect(answer.body).toMatchObject({ status: 'ok', d_model: d, extraction_layer: engine.capabilities().layer, reconstructor_available: true, limits: NLA_LIMITS });
  });

  it('401 without X-SECRET-KEY and 403 with a wrong one, as FastAPI HTTPExceptions', async () => {
    for (const path of ['/', '/explain', '/describe', '/score']) {
      const missing = await nla(path, path === '/' ? undefined : {}, null);
      expect(missing.status, path).toBe(401);
      expectValid('nla', 'HTTPException', missing.body);
      const wrong = await nla(path, path === '/' ? undefined : {}, 'wrong-secret');
      expect(wrong.status, path).toBe(403);
      expectValid('nla', 'HTTPException', wrong.body);
    }
  });
});

describe('POST /v1/activation/topk-by-token', () => {
  it('camelCase in and out; ignoreBos drops BOS from both lists; positions index the whole prompt', async () => {
    const request = { prompt: 'hi!', model: 'confab-reference', source: '2-res-topk', topK: 4, ignoreBos: true };
    expectValid('inference', 'ActivationTopkByTokenRequest', request);
    const answer = await nla('/v1/activation/topk-by-token', request);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expectValid('inference', 'ActivationTopkByTokenResponse', answer.body);
    const body = answer.body as { tokens: string[]; results: Array<{ tokenPosition: number; token: string; isSpecial: boolean; topFeatures: unknown[] }> };
    expect(body.tokens).toEqual(['h', 'i', '!']);
    expect(body.results.map((r) => [r.tokenPosition, r.token, r.isSpecial, r.topFeatures.length])).toEqual([
      [1, 'h', false, 4],
      [2, 'i', false, 4],
      [3, '!', false, 4],
    ]);
  });

  it('keeps BOS (isSpecial) without ignoreBos, defaults topK to 5, takes snake_case and ignores unknown fields', async () => {
    const answer = await nla('/v1/activation/topk-by-token', { prompt: 'ok', model: 'm', source: 's', ignore_bos: false, colour: 'red' });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expectValid('inference', 'ActivationTopkByTokenResponse', answer.body);
    const body = answer.body as { tokens: string[]; results: Array<{ tokenPosition: number; isSpecial: boolean; topFeatures: unknown[] }> };
    expect(body.tokens).toHaveLength(3);
    expect(body.results.map((r) => [r.tokenPosition, r.isSpecial])).toEqual([[0, true], [1, false], [2, false]]);
    expect(body.results.every((r) => r.topFeatures.length === 5)).toBe(true);
    const snake = await nla('/v1/activation/topk-by-token', { prompt: 'ok', model: 'm', source: 's', top_k: 2, ignore_bos: true });
    expect((snake.body as { results: Array<{ topFeatures: unknown[] }> }).results[0].topFeatures).toHaveLength(2);
    const huge = await nla('/v1/activation/topk-by-token', { prompt: 'ok', model: 'm', source: 's', topK: 10 ** 6, ignoreBos: true });
    // Clamped to the SAE's width rather than refused; a TopK SAE has only k non-zero features to list.
    expect(huge.status).toBe(200);
    expect((huge.body as { results: Array<{ topFeatures: unknown[] }> }).results[0].topFeatures.length).toBeGreaterThan(5);
  });

  it('bad input: 422 naming the field; 401 for a missing or wrong secret; the worker stays healthy', async () => {
    expect422(await nla('/v1/activation/topk-by-token', { prompt: 5, model: 'm', source: 's', ignoreBos: true }), ['prompt']);
    expect422(await nla('/v1/activation/topk-by-token', { model: 'm', source: 's', ignoreBos: true }), ['prompt'], /required/);
    expect422(await nla('/v1/activation/topk-by-token', { prompt: '', model: 'm', source: 's', ignoreBos: true }), ['prompt']);
    expect422(await nla('/v1/activation/topk-by-token', { prompt: 'x', topK: 2.5, ignoreBos: true }), ['topK']);
    expect422(await call(`${worker.url}/v1/activation/topk-by-token`, { raw: '{"prompt": ' }), []);
    for (const secret of [null, 'wrong-secret']) {
      const denied = await nla('/v1/activation/topk-by-token', { prompt: 'x', model: 'm', source: 's', ignoreBos: true }, secret);
      expect(denied.status).toBe(401);
      expectValid('inference', 'Unauthorized', denied.body);
    }
    await expectHealthy();
  });
});

describe('POST /explain', () => {
  it('describes every position, last first, with l2_norm and null chat spans for plain text', async () => {
    const request = { text: 'hi', stream: false, reverse: true, add_generation_prompt: true, continue_final_message: false, enable_thinking: null, temperature: 0, max_new_tokens: 16 };
    expectValid('nla', 'ExplainRequest', request);
    const answer = await nla('/explain', request);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expectValid('nla', 'ExplainResponse', answer.body);
    const body = answer.body as { layer_index: number; results: Array<Record<string, unknown>> };
    expect(body.layer_index).toBe(engine.capabilities().layer);
    expect(body.results.map((r) => [r.position, r.token])).toEqual([[2, 'i'], [1, 'h'], [0, '<|bos|>']]);
    expect(body.results[0]).toMatchObject({ role: null, section: null, message_index: null, token_id: 'i'.charCodeAt(0) });
    const v = await activationOf('hi', 2);
    expect(body.results[0].l2_norm).toBeCloseTo(Math.hypot(...v), 3);
    for (const r of body.results) expect(r.mse as number).toBeCloseTo(2 * (1 - (r.cosine_similarity as number)), 6);
  });

  it('reverse false keeps the asked order; negative positions count from the end; temperature up to 5 is accepted', async () => {
    const answer = await nla('/explain', { text: 'abc', positions: [-1, 1], reverse: false, temperature: 5, max_new_tokens: 8 });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expectValid('nla', 'ExplainResponse', answer.body);
    expect((answer.body as { results: Array<{ position: number }> }).results.map((r) => r.position)).toEqual([3, 1]);
  });

  it('renders chat messages with the model\'s template and gives each token its role, message and section', async () => {
    const messages = [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }];
    const answer = await nla('/explain', { messages, positions: [1, 5], reverse: false, max_new_tokens: 8 });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expectValid('nla', 'ExplainResponse', answer.body);
    // Rendered: "user: hi\nassistant: yo\nassistant: "; after BOS, position 1 is "u", 5 is ":" and 7 is "h".
    const [header, content] = (answer.body as { results: Array<Record<string, unknown>> }).results;
    expect(header).toMatchObject({ token: 'u', role: 'user', message_index: 0, section: 'header' });
    expect(content).toMatchObject({ token: ':', role: 'user', message_index: 0, section: 'header' });
    const hi = await nla('/explain', { messages, positions: [7, -1], reverse: false, continue_final_message: true, max_new_tokens: 8 });
    expect(hi.status, JSON.stringify(hi.body)).toBe(200);
    const [h, last] = (hi.body as { results: Array<Record<string, unknown>> }).results;
    expect(h).toMatchObject({ token: 'h', role: 'user', section: 'content', message_index: 0 });
    // Continuing the final message ends the text at its last character.
    expect(last).toMatchObject({ token: 'o', role: 'assistant', section: 'content', message_index: 1 });
  });

  it('describes a repeated position twice, as Neuronpedia does, and refuses messages on a model without a chat template', async () => {
    const twice = await nla('/explain', { text: 'ab', positions: [1, 1], max_new_tokens: 8 });
    expect(twice.status, JSON.stringify(twice.body)).toBe(200);
    expect((twice.body as { results: Array<{ position: number }> }).results.map((r) => r.position)).toEqual([1, 1]);
    const bare = await serve(engine, { secret: SECRET });
    try {
      const answer = await call(`${bare.url}/explain`, { body: { messages: [{ role: 'user', content: 'hi' }] } });
      expect(answer.status).toBe(400);
      expectValid('nla', 'HTTPException', answer.body);
      expect((answer.body as { detail: string }).detail).toMatch(/no chat template; send `text`/);
    } finally {
      await bare.close();
    }
  });

  it('a chat template that does not render is a 400 naming the template', async () => {
    const broken = await serve(engine, { secret: SECRET, chatTemplate: '{% for m in messages %}{{ m.content }' });
    try {
      const answer = await call(`${broken.url}/explain`, { body: { messages: [{ role: 'user', content: 'hi' }] } });
      expect(answer.status).toBe(400);
      expect((answer.body as { detail: string }).detail).toMatch(/Failed to apply chat template/);
    } finally {
      await broken.close();
    }
  });

  it('streams server-sent events: a meta frame, one result per position, then [DONE]', async () => {
    const response = await fetch(`${worker.url}/explain`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-secret-key': SECRET },
      body: JSON.stringify({ text: 'abc', positions: [0, -1], stream: true, max_new_tokens: 8 }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const frames = sseFrames(await response.text());
    expect(frames.at(-1)).toBe('[DONE]');
    const events = frames.slice(0, -1);
    for (const frame of events) expectValid('nla', 'ExplainStreamFrame', frame);
    expect(events[0]).toEqual({ layer_index: engine.capabilities().layer, total: 2, prompt_length: 4 });
    expect(events.slice(1).map((e) => (e as { position: number }).position).sort()).toEqual([0, 3]);
  });

  it('bad input: 422 naming the field or the limit; 503-free and healthy after', async () => {
    expect422(await nla('/explain', { text: 42 }), ['text']);
    expect422(await nla('/explain', {}), ['text']);
    expect422(await nla('/explain', { text: '' }), ['text']);
    expect422(await nla('/explain', { text: 'abc', positions: [0, 9] }), ['positions', 1], /out of range/);
    expect422(await nla('/explain', { text: 'abc', positions: [-9], stream: true }), ['positions', 0], /out of range/);
    expect422(await nla('/explain', { text: 'abc', temperature: 5.5 }), ['temperature']);
    expect422(await nla('/explain', { text: 'abc', max_new_tokens: NLA_LIMITS.max_new_tokens + 1 }), ['max_new_tokens'], /max_new_tokens/);
    expect422(await nla('/explain', { text: 'abc', positions: new Array(NLA_LIMITS.max_positions_per_request + 1).fill(0) }), ['positions'], /max_positions_per_request/);
    expect422(await nla('/explain', { text: 'x'.repeat(200) }), ['text'], /limit is 128/);
    expect422(await nla('/explain', { messages: [{ content: 'no role' }] }), ['messages', 0, 'role']);
    await expectHealthy();
  });

  it('a stream the client closes halfway stops quietly, and the worker keeps serving', async () => {
    await new Promise<void>((resolve, reject) => {
      const body = JSON.stringify({ text: 'abcdefgh', stream: true, max_new_tokens: 32 });
      const req = httpRequest(`${worker.url}/explain`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-secret-key': SECRET } }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => (req.destroyed ? resolve() : reject(err)));
      req.end(body);
    });
    await expectHealthy();
    const after = await nla('/explain', { text: 'ok', positions: [-1] });
    expect(after.status).toBe(200);
    expectValid('nla', 'ExplainResponse', after.body);
  });
});

describe('POST /describe and /score', () => {
  it('a /describe stream the client closes halfway stops quietly, and the worker keeps serving', async () => {
    const v = await activationOf('abc', -1);
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${worker.url}/describe`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-secret-key': SECRET } }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => (req.destroyed ? resolve() : reject(err)));
      req.end(JSON.stringify({ activations: [v, v, v, v], stream: true, max_new_tokens: 32 }));
    });
    await expectHealthy();
  });

  it('describe: DescribeResponse, and the same results as server-sent events', async () => {
    const v = await activationOf('hello world', -1);
    const request = { activations: [v], temperature: 0, max_new_tokens: 16, stream: false };
    expectValid('nla', 'DescribeRequest', request);
    const answer = await nla('/describe', request);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expectValid('nla', 'DescribeResponse', answer.body);
    const plain = (answer.body as { results: Array<{ description: string }> }).results[0].description;
    const streamed = await fetch(`${worker.url}/describe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-secret-key': SECRET },
      body: JSON.stringify({ ...request, stream: true }),
    });
    const frames = sseFrames(await streamed.text());
    expect(frames.at(-1)).toBe('[DONE]');
    expectValid('nla', 'DescribeStreamFrame', frames[0]);
    expect((frames[0] as { description: string }).description).toBe(plain);
  });

  it('score: ScoreResponse with mse = 2 (1 - cosine)', async () => {
    const v = await activationOf('hello world', -1);
    const request = { description: 'a greeting', activation: v };
    expectValid('nla', 'ScoreRequest', request);
    const answer = await nla('/score', request);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expectValid('nla', 'ScoreResponse', answer.body);
    const { mse, cosine_similarity: cos } = answer.body as { mse: number; cosine_similarity: number };
    expect(mse).toBeCloseTo(2 * (1 - cos), 6);
  });

  it('bad input: wrong type, missing field, empty, wrong width, non-finite, zero, over the batch limit', async () => {
    expect422(await nla('/score', { description: 'x', activation: 'nope' }), ['activation']);
    expect422(await nla('/score', { activation: new Array(d).fill(1) }), ['description'], /required/);
    expect422(await nla('/score', { description: '', activation: new Array(d).fill(1) }), ['description']);
    expect422(await nla('/score', { description: 'x', activation: [1, 2, 3] }), ['activation'], /d_model 128/);
    const huge = new Array(d).fill(1).map(String);
    huge[7] = '1e39';
    expect422(await call(`${worker.url}/score`, { raw: `{"description":"x","activation":[${huge.join(',')}]}` }), ['activation', 7]);
    expect422(await nla('/describe', { activations: [new Array(d).fill(0)] }), ['activations', 0], /zeros/);
    expect422(await nla('/describe', { activations: [] }), ['activations']);
    expect422(await nla('/describe', { activations: new Array(NLA_LIMITS.max_describe_batch + 1).fill([1]) }), ['activations'], /max_describe_batch/);
    await expectHealthy();
  });
});
