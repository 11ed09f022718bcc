/**
 * The worker's HTTP edge end to end on the real reference stack: every route, every error
 * case, batching, the bounded queue, and dropped clients.
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnalyzeResponseSchema, CapabilitiesSchema, decodeActivation } from '../../../src/protocol/analyze';
import { ErrorBodySchema } from '../../../src/protocol/errors';
import { HealthResponseSchema } from '../../../src/worker/http/health';
import type { RuntimeEngine } from '../../../src/worker/runtime/engine';
import type { WorkerServer } from '../../../src/worker/server';
import { REFERENCE_MODELS } from '../../../src/config';
import { HealthResponseSchema as Health } from '../../../src/worker/http/health';
import { createThreadedEngine } from '../../../src/worker/thread/engine-thread';
import { call, loadReferenceEngine, recordingLogger, SECRET, serve } from './reference-worker';

let engine: RuntimeEngine;
let worker: WorkerServer;
let d: number;
let maxTokens: number;
const PROMPT = 'The Jargon File defines a hacker as a person who enjoys exploring systems.';

beforeAll(async () => {
  engine = await loadReferenceEngine();
  worker = await serve(engine, { secret: SECRET, maxBodyBytes: 64 * 1024 });
  d = engine.capabilities().d_model;
  maxTokens = engine.capabilities().max_tokens;
});

afterAll(async () => {
  await worker?.close();
  await engine?.close();
});

function expectError(answer: { status: number; body: unknown }, status: number, code: string, detail?: RegExp) {
  expect(answer.status, JSON.stringify(answer.body)).toBe(status);
  const body = ErrorBodySchema.parse(answer.body);
  expect(body.error).toBe(code);
  if (detail) expect(body.detail).toMatch(detail);
}

describe('routes on the reference stack', () => {
  it('GET /health answers without the secret', async () => {
    const answer = await call(`${worker.url}/health`, { secret: null });
    expect(answer.status).toBe(200);
    const health = HealthResponseSchema.parse(answer.body);
    expect(health.model).toBe(engine.capabilities().model);
  });

  it('GET /v1/capabilities reports the token limit, layer, d_model, SAE and backends', async () => {
    const answer = await call(`${worker.url}/v1/capabilities`);
    expect(answer.status).toBe(200);
    const caps = CapabilitiesSchema.parse(answer.body);
    expect(caps.d_model).toBe(128);
    expect(caps.max_tokens).toBe(128);
    expect(caps.sae.architecture).toBe('topk');
    expect(caps.sae.width).toBe(1024);
    expect(caps.nla).toMatchObject({ av_backend: 'onnx', ar_backend: 'onnx', available: true });
  });

  it('POST /v1/analyze returns tokens, SAE features, a scored explanation and the activation', async () => {
    const answer = await call(`${worker.url}/v1/analyze`, { body: { prompt: PROMPT, return_activations: true } });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const result = AnalyzeResponseSchema.parse(answer.body);
    expect(result.d_model).toBe(128);
    // Byte-level tokenizer plus BOS: one token per byte of this ASCII prompt.
    expect(result.tokens).toHaveLength(PROMPT.length + 1);
    expect(result.tokens[0].special).toBe(true);
    expect(result.tokens.slice(1).map((t) => t.text).join('')).toBe(PROMPT);
    const [last] = result.positions;
    expect(last.position).toBe(PROMPT.length);
    expect(last.token).toBe('.');
    expect(last.sae.features).toHaveLength(8);
    expect(last.sae.l0).toBeGreaterThan(0);
    expect(last.sae.features.every((f) => f.label.length > 0)).toBe(true);
    expect(last.explanations).toHaveLength(1);
    const [explanation] = last.explanations;
    expect(explanation.text.length).toBeGreaterThan(0);
    expect(explanation.ar.mse_nrm).toBeCloseTo(2 * (1 - explanation.ar.cosine), 6);
    const activation = decodeActivation(last.activation!);
    expect(activation).toHaveLength(d);
    expect(activation.every(Number.isFinite)).toBe(true);
    expect(result.timings_ms.queue).toBeGreaterThanOrEqual(0);
    expect(result.timings_ms.total).toBeGreaterThan(0);
  });

  it('resolves negative positions and several positions in one request', async () => {
    const answer = await call(`${worker.url}/v1/analyze`, { body: { prompt: 'abc', positions: [1, -1, -2], nla_samples: 0, top_k: 3 } });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const result = AnalyzeResponseSchema.parse(answer.body);
    expect(result.positions.map((p) => p.position)).toEqual([1, 3, 2]);
    expect(result.positions.map((p) => p.token)).toEqual(['a', 'c', 'b']);
    expect(result.positions.every((p) => p.explanations.length === 0 && p.sae.features.length === 3)).toBe(true);
  });
});

describe('errors are JSON {error, detail} and never crash the worker', () => {
  it('401 without or with a wrong X-SECRET-KEY, on every route but /health', async () => {
    expectError(await call(`${worker.url}/v1/analyze`, { body: { prompt: 'x' }, secret: null }), 401, 'unauthorized', /X-SECRET-KEY/);
    expectError(await call(`${worker.url}/v1/analyze`, { body: { prompt: 'x' }, secret: 'wrong' }), 401, 'unauthorized');
    expectError(await call(`${worker.url}/v1/capabilities`, { secret: `${SECRET}x` }), 401, 'unauthorized');
  });

  it('400 for bad JSON, an empty body, and schema errors that name the field', async () => {
    expectError(await call(`${worker.url}/v1/analyze`, { raw: '{"prompt": "x",' }), 400, 'invalid_json', /not valid JSON/);
    expectError(await call(`${worker.url}/v1/analyze`, { raw: '' }), 400, 'invalid_json', /empty/);
    expectError(await call(`${worker.url}/v1/analyze`, { body: { prompt: 'x', top_k: 'many' } }), 400, 'invalid_request', /^top_k: /);
    expectError(await call(`${worker.url}/v1/analyze`, { body: { prompt: 'x', positions: [1.5] } }), 400, 'invalid_request', /positions\[0\]/);
    expectError(await call(`${worker.url}/v1/analyze`, { body: { prompt: 'x', colour: 'red' } }), 400, 'invalid_request', /unknown field "colour"/);
    expectError(await call(`${worker.url}/v1/analyze`, { body: { top_k: 3 } }), 400, 'invalid_request', /prompt/);
  });

  it('400 for a prompt over the token limit, with the limit in the message', async () => {
    const answer = await call(`${worker.url}/v1/analyze`, { body: { prompt: 'x'.repeat(maxTokens + 10) } });
    expect(answer.status).toBe(400);
    expect(ErrorBodySchema.parse(answer.body).detail).toContain(String(maxTokens));
  });

  it('400 for a position out of range', async () => {
    const answer = await call(`${worker.url}/v1/analyze`, { body: { prompt: 'abc', positions: [10] } });
    expect(answer.status).toBe(400);
    expect(ErrorBodySchema.parse(answer.body).detail).toMatch(/10/);
    const negative = await call(`${worker.url}/v1/analyze`, { body: { prompt: 'abc', positions: [-9] } });
    expect(negative.status).toBe(400);
  });

  it('404 for an unknown route and 405 (with Allow) for a wrong method', async () => {
    expectError(await call(`${worker.url}/v2/analyze`), 404, 'not_found', /\/v1\/analyze/);
    const answer = await call(`${worker.url}/v1/analyze`, { method: 'GET' });
    expectError(answer, 405, 'method_not_allowed', /use POST/);
    expect(answer.headers.get('allow')).toBe('POST');
  });

  it('413 for an oversized body, declared or chunked, without reading it all', async () => {
    const big = JSON.stringify({ prompt: 'x'.repeat(200 * 1024) });
    expectError(await call(`${worker.url}/v1/analyze`, { raw: big }), 413, 'payload_too_large', /65,536 bytes/);

    // Chunked upload (no Content-Length): the cap applies while streaming.
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const url = new URL(`${worker.url}/v1/analyze`);
      const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'x-secret-key': SECRET, 'transfer-encoding': 'chunked' } }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.write('{"prompt":"');
      for (let i = 0; i < 20; i++) req.write('y'.repeat(8 * 1024));
      req.end('"}');
    });
    expect(chunked.status).toBe(413);
    expect(ErrorBodySchema.parse(JSON.parse(chunked.body)).error).toBe('payload_too_large');

    // The worker is still up and answering.
    expect((await call(`${worker.url}/health`, { secret: null })).status).toBe(200);
  });

  it('500 when the engine fails, and the process keeps serving', async () => {
    const broken = await loadReferenceEngine();
    await broken.close(); // a released ONNX session makes every analysis throw
    const server = await serve(broken);
    try {
      const answer = await call(`${server.url}/v1/analyze`, { body: { prompt: 'hello' } });
      expectError(answer, 500, 'internal_error', /worker log/);
      expect((await call(`${server.url}/health`, { secret: null })).status).toBe(200);
      // The healthy worker beside it is unaffected.
      expect((await call(`${worker.url}/v1/analyze`, { body: { prompt: 'hello', nla_samples: 0 } })).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('a 500 goes to the log as one error record with the stack, which the client is not shown', async () => {
    const broken = await loadReferenceEngine();
    await broken.close();
    const logged: Array<Record<string, unknown>> = [];
    const server = await serve(broken, { log: recordingLogger(logged) });
    try {
      const answer = await call(`${server.url}/v1/analyze`, { body: { prompt: 'hello' } });
      expectError(answer, 500, 'internal_error', /worker log/);
      expect(JSON.stringify(answer.body)).not.toMatch(/\bat /);
      expect(logged).toHaveLength(1);
      expect(logged[0]).toMatchObject({ level: 50, code: 'internal_error', status: 500, msg: 'worker: internal_error' });
      expect((logged[0].err as { stack?: string }).stack).toMatch(/\n\s+at /);
    } finally {
      await server.close();
    }
  });
});

describe('batching and the bounded queue', () => {
  it('16 concurrent clients are all answered, in shared batches', async () => {
    const server = await serve(engine, { queueLimit: 64, batchWindowMs: 5 });
    try {
      const prompts = Array.from({ length: 16 }, (_, i) => `Concurrent request number ${i} about the Jargon File.`);
      const answers = await Promise.all(prompts.map((prompt) => call(`${server.url}/v1/analyze`, { body: { prompt } })));
      expect(answers.map((a) => a.status)).toEqual(new Array(16).fill(200));
      // Each answer belongs to its own request (batching must not mix them up).
      answers.forEach((a, i) => {
        const result = AnalyzeResponseSchema.parse(a.body);
        expect(result.tokens.slice(1).map((t) => t.text).join('')).toBe(prompts[i]);
      });
      const sizes = server.queueStats().recentBatchSizes;
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(16);
      expect(Math.max(...sizes)).toBeGreaterThan(1);
    } finally {
      await server.close();
    }
  });

  it('16 concurrent clients against a small queue: each is answered 200 or 429 with Retry-After', async () => {
    const server = await serve(engine, { queueLimit: 3, batchWindowMs: 5 });
    try {
      const answers = await Promise.all(
        Array.from({ length: 16 }, (_, i) => call(`${server.url}/v1/analyze`, { body: { prompt: `Request ${i}: a saying in Italian.` } })),
      );
      const statuses = answers.map((a) => a.status);
      expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
      const busy = answers.filter((a) => a.status === 429);
      expect(busy.length).toBeGreaterThan(0);
      expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(3);
      for (const a of busy) {
        expect(Number(a.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect(ErrorBodySchema.parse(a.body).error).toBe('queue_full');
      }
    } finally {
      await server.close();
    }
  });

  it('drops a request whose client went away before its batch started, and reports queue time', async () => {
    // A long batch window keeps the first request waiting, so the others queue behind it.
    const server = await serve(engine, { batchWindowMs: 3_000 });
    const until = async (condition: () => boolean) => {
      for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
      expect(condition()).toBe(true);
    };
    try {
      const first = call(`${server.url}/v1/analyze`, { body: { prompt: 'first', nla_samples: 0 } });
      const leaving = new AbortController();
      const gone = fetch(`${server.url}/v1/analyze`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'this client leaves', nla_samples: 0 }),
        signal: leaving.signal,
      }).catch((err: Error) => err);
      await until(() => server.queueStats().waiting === 2);
      leaving.abort();
      expect(await gone).toBeInstanceOf(Error);
      await until(() => server.queueStats().waiting === 1);
      const answer = await first;
      expect(answer.status).toBe(200);
      expect(AnalyzeResponseSchema.parse(answer.body).timings_ms.queue).toBeGreaterThanOrEqual(2_500);
      // Only the request whose client stayed was computed.
      expect(server.queueStats().recentBatchSizes).toEqual([1]);
    } finally {
      await server.close();
    }
  });
});

describe('clients that leave mid-batch', () => {
  it('stop the batch quietly: no error is logged, and the worker serves the next request', async () => {
    const logged: Array<Record<string, unknown>> = [];
    const server = await serve(engine, { log: recordingLogger(logged) });
    try {
      const leaving = Array.from({ length: 8 }, () => new AbortController());
      const gone = leaving.map((c, i) =>
        fetch(`${server.url}/v1/analyze`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-secret-key': SECRET },
          body: JSON.stringify({ prompt: `Leaving mid-batch ${i}: a long fortune about patience and rivers.`, max_new_tokens: 64 }),
          signal: c.signal,
        }).catch((err: Error) => err),
      );
      for (let i = 0; i < 100 && server.queueStats().running === 0; i++) await new Promise((r) => setTimeout(r, 2));
      expect(server.queueStats().running).toBe(1);
      for (const c of leaving) c.abort();
      for (const g of await Promise.all(gone)) expect(g).toBeInstanceOf(Error);
      for (let i = 0; i < 200 && server.queueStats().running > 0; i++) await new Promise((r) => setTimeout(r, 5));
      const after = await call(`${server.url}/v1/analyze`, { body: { prompt: 'Still here.', nla_samples: 0 } });
      expect(after.status).toBe(200);
      expect(logged).toEqual([]);
    } finally {
      await server.close();
    }
  });
});

describe('two engine threads behind one queue', () => {
  it('runs two batches at once, answers all 16 clients, and keeps /health answering meanwhile', async () => {
    const threaded = await createThreadedEngine(REFERENCE_MODELS, { threads: 2 });
    await threaded.whenAllLoaded();
    const server = await serve(threaded);
    try {
      const prompts = Array.from({ length: 16 }, (_, i) => `Two lanes, request ${i}: a proverb in Spanish.`);
      let done = false;
      const seenRunning: number[] = [];
      const probe = (async () => {
        while (!done) {
          const health = await call(`${server.url}/health`, { secret: null });
          seenRunning.push(Health.parse(health.body).queue.running);
        }
      })();
      const answers = await Promise.all(
        prompts.map(async (prompt) => {
          const results = [];
          for (let k = 0; k < 3; k++) results.push(await call(`${server.url}/v1/analyze`, { body: { prompt: `${prompt} (${k})` } }));
          return results;
        }),
      );
      done = true;
      await probe;
      const flat = answers.flat();
      expect(flat.map((a) => a.status)).toEqual(new Array(48).fill(200));
      answers.forEach((list, i) =>
        list.forEach((a, k) => expect(AnalyzeResponseSchema.parse(a.body).tokens.slice(1).map((t) => t.text).join('')).toBe(`${prompts[i]} (${k})`)),
      );
      // The probe got answers while the models computed, and saw both lanes busy.
      expect(seenRunning.length).toBeGreaterThan(3);
      expect(Math.max(...seenRunning)).toBe(2);
      expect(server.queueStats().recentBatchSizes.reduce((a, b) => a + b, 0)).toBe(48);
    } finally {
      await server.close();
      await threaded.close();
    }
  });
});
