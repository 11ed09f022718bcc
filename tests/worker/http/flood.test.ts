/**
 * The worker under a flood, on the real reference stack on two engine threads: prompts far over
 * the limit are refused by their length before anyone tokenizes them, and a flood of near-limit
 * prompts is admitted by estimated cost, so every client is answered within the queue's wait
 * bound and each 429 says how long the queue really takes to drain.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFERENCE_MODELS } from '../../../src/config';
import { AnalyzeResponseSchema, CapabilitiesSchema } from '../../../src/protocol/analyze';
import { ErrorBodySchema } from '../../../src/protocol/errors';
import { analyzeCost, CostMeter } from '../../../src/worker/http/cost';
import { createThreadedEngine, type ThreadedEngine } from '../../../src/worker/thread/engine-thread';
import type { WorkerServer } from '../../../src/worker/server';
import { call, SECRET, serve } from './reference-worker';

let engine: ThreadedEngine;

beforeAll(async () => {
  engine = await createThreadedEngine(REFERENCE_MODELS, { executionProvider: 'cpu', threads: 2 });
  // The drain estimates below assume both lanes from the start.
  await engine.whenAllLoaded();
});

afterAll(async () => {
  await engine?.close();
});

interface Timed {
  status: number;
  retryAfter: number | null;
  body: unknown;
  sentAt: number;
  answeredAt: number;
}

async function timedCall(server: WorkerServer, body: unknown): Promise<Timed> {
  const sentAt = performance.now();
  const answer = await call(`${server.url}/v1/analyze`, { body, secret: SECRET });
  const retryAfter = answer.headers.get('retry-after');
  return { status: answer.status, retryAfter: retryAfter === null ? null : Number(retryAfter), body: answer.body, sentAt, answeredAt: performance.now() };
}

describe('prompts over the character bound', () => {
  it('capabilities report the bound: the token limit less BOS, one character per byte-level token', async () => {
    const server = await serve(engine, { secret: SECRET });
    try {
      const caps = CapabilitiesSchema.parse((await call(`${server.url}/v1/capabilities`)).body);
      expect(caps.max_prompt_chars).toBe(caps.max_tokens - 1);
    } finally {
      await server.close();
    }
  });

  it('70 concurrent 900 KB prompts are all refused with 400 in seconds, not minutes, naming the length and the limit', async () => {
    const server = await serve(engine, { secret: SECRET });
    try {
      const prompt = 'y'.repeat(900_000);
      const started = performance.now();
      const answers = await Promise.all(Array.from({ length: 70 }, () => timedCall(server, { prompt })));
      const took = performance.now() - started;
      for (const a of answers) {
        expect(a.status).toBe(400);
        const body = ErrorBodySchema.parse(a.body);
        expect(body.error).toBe('prompt_too_long');
        expect(body.detail).toBe('Prompt is 900,000 characters; the limit is 127 characters (this model reads at most 128 tokens).');
      }
      // None reached the engine: tokenizing one such prompt takes seconds and hundreds of MB there.
      expect(server.queueStats().batches).toBe(0);
      // Uploading and parsing 63 MB takes time on a busy machine; tokenizing it took minutes.
      expect(took).toBeLessThan(90_000);
    } finally {
      await server.close();
    }
  }, 120_000);

  it('a prompt one character over the bound is refused, one at the bound is analysed', async () => {
    const server = await serve(engine, { secret: SECRET });
    try {
      const over = await timedCall(server, { prompt: 'z'.repeat(128), nla_samples: 0 });
      expect(over.status).toBe(400);
      expect(ErrorBodySchema.parse(over.body).detail).toMatch(/^Prompt is 128 characters; the limit is 127 characters/);
      const at = await timedCall(server, { prompt: 'z'.repeat(127), nla_samples: 0 });
      expect(at.status).toBe(200);
      expect(AnalyzeResponseSchema.parse(at.body).tokens).toHaveLength(128);
    } finally {
      await server.close();
    }
  });
});

describe('a flood of near-limit prompts', () => {
  it('70 concurrent clients: each answered in time, and each 429 carries a Retry-After that matches the drain', async () => {
    // Short enough that 70 clients overrun it even on an idle machine, so some must get 429.
    const maxQueueWaitMs = 500;
    const server = await serve(engine, { secret: SECRET, maxBatch: 4, maxQueueWaitMs });
    const request = (i: number) => ({ prompt: `${i} `.padEnd(127, 'the jargon file and the devil dictionary '), nla_samples: 4 });
    try {
      // A worker that has served traffic knows its pace; the same happens in production.
      let longestBatch = 0;
      for (let round = 0; round < 3; round++) {
        const warm = await Promise.all(Array.from({ length: 8 }, (_, i) => timedCall(server, request(i))));
        // On a loaded machine the learned pace may already refuse some of these eight.
        for (const a of warm) expect([200, 429]).toContain(a.status);
        longestBatch = Math.max(longestBatch, ...warm.filter((a) => a.status === 200).map((a) => a.answeredAt - a.sentAt));
      }

      const answers = await Promise.all(Array.from({ length: 70 }, (_, i) => timedCall(server, request(100 + i))));
      const ok = answers.filter((a) => a.status === 200);
      const busy = answers.filter((a) => a.status === 429);
      expect(ok.length + busy.length, JSON.stringify(answers.filter((a) => a.status !== 200 && a.status !== 429).map((a) => a.body))).toBe(70);
      expect(ok.length).toBeGreaterThan(0);
      expect(busy.length).toBeGreaterThan(0);
      expect(longestBatch).toBeGreaterThan(0);

      // In time: no client waits past the wait bound plus one batch (with room for a busy machine).
      const slowest = Math.max(...answers.map((a) => a.answeredAt - a.sentAt));
      expect(slowest).toBeLessThan(maxQueueWaitMs + 2 * longestBatch + 1_000);

      // The queue's real drain time, seen from each 429: until the last admitted request was answered.
      const drainedAt = Math.max(...ok.map((a) => a.answeredAt));
      for (const a of busy) {
        expect(ErrorBodySchema.parse(a.body).error).toMatch(/^queue_(full|timeout)$/);
        expect(a.retryAfter).not.toBeNull();
        const drainS = Math.max(0, drainedAt - a.answeredAt) / 1000;
        expect(a.retryAfter!, `Retry-After ${a.retryAfter} s against a drain of ${drainS.toFixed(1)} s`).toBeGreaterThanOrEqual(Math.floor(drainS / 2));
        expect(a.retryAfter!).toBeLessThanOrEqual(Math.ceil(drainS * 2) + 2);
      }
    } finally {
      await server.close();
    }
  });
});

describe('cost units', () => {
  it('count the samples the NLA generates, per position, up to 64 tokens each', () => {
    const base = { prompt: 'p', top_k: 8, return_activations: false } as const;
    expect(analyzeCost({ ...base, nla_samples: 0 })).toBe(1);
    expect(analyzeCost({ ...base, nla_samples: 1 })).toBe(2);
    expect(analyzeCost({ ...base, nla_samples: 4, positions: [0, 1], max_new_tokens: 1024 })).toBe(9);
    expect(analyzeCost({ ...base, nla_samples: 2, max_new_tokens: 16 })).toBe(1.5);
  });

  it('the meter follows the batches that ran and ignores empty ones', () => {
    const meter = new CostMeter(50);
    expect(meter.ms(10)).toBe(500);
    for (let i = 0; i < 20; i++) meter.observe(10, 2_000);
    expect(meter.ms(10)).toBeCloseTo(2_000, 0);
    meter.observe(0, 5_000);
    meter.observe(10, Number.NaN);
    expect(meter.ms(10)).toBeCloseTo(2_000, 0);
  });
});
