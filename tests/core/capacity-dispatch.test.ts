/**
 * The dispatcher sends work by the capacity the workers report in /health: two real worker
 * servers on the reference model, reached through the real inference client. With more analyses
 * queued than the workers run at once, the dispatcher fills both to their capacity and no
 * further: no request is refused with 429, and a worker that runs one at a time never holds two.
 *
 * The engine behind each server is held at its first batch until the test has seen the workers
 * filled, so "filled to capacity" is an observed state, not a guess about timing.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices } from '../../src/core/app';
import type { AnalysisView } from '../../src/core/view';
import { createInferenceClient, type InferenceClient } from '../../src/inference';
import { silentLogger } from '../../src/log';
import { HealthResponseSchema } from '../../src/worker/http/health';
import type { Engine } from '../../src/worker/engine';
import type { RuntimeEngine } from '../../src/worker/runtime/engine';
import type { WorkerServer } from '../../src/worker/server';
import { createTestDatabase, testConfig, type TestDatabase } from '../db/support';
import { call, loadReferenceEngine, SECRET, serve } from '../worker/http/reference-worker';
import { actor, run } from './helpers';

/** Lets engine batches start only once opened; the models then run as usual. */
class Gate {
  private opened = false;
  private readonly waiters: Array<() => void> = [];
  wait(): Promise<void> {
    return this.opened ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
  open(): void {
    this.opened = true;
    for (const resolve of this.waiters.splice(0)) resolve();
  }
}

function gated(engine: Engine, gate: Gate): Engine {
  return {
    capabilities: () => engine.capabilities(),
    analyzeBatch: async (requests, signal) => {
      await gate.wait();
      return engine.analyzeBatch(requests, signal);
    },
    describe: (vectors, sampling, signal) => engine.describe(vectors, sampling, signal),
    score: (items) => engine.score(items),
    topkByToken: (prompt, topK, ignoreBos) => engine.topkByToken(prompt, topK, ignoreBos),
    countTokens: (prompt) => engine.countTokens(prompt),
    close: async () => {},
  };
}

/** What one worker saw on /v1/analyze: requests at once (most ever), answers by status. */
interface Seen {
  now: number;
  most: number;
  statuses: number[];
}

function watch(worker: WorkerServer): Seen {
  const seen: Seen = { now: 0, most: 0, statuses: [] };
  worker.server.on('request', (req, res) => {
    if (!req.url?.startsWith('/v1/analyze')) return;
    seen.most = Math.max(seen.most, ++seen.now);
    res.on('close', () => {
      seen.now--;
      seen.statuses.push(res.statusCode);
    });
  });
  return seen;
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; !ok(); i++) {
    if (i > 3000) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

let engine: RuntimeEngine;
let database: TestDatabase;
beforeAll(async () => {
  engine = await loadReferenceEngine();
  database = await createTestDatabase('pglite');
});
afterAll(async () => {
  await database?.drop();
  await engine?.close();
});

describe('worker capacity in /health', () => {
  it('reports lanes × batch size, the queue limit and the requests in the worker', async () => {
    const worker = await serve(engine, { secret: SECRET, maxBatch: 3, queueLimit: 5 });
    try {
      const health = await call(`${worker.url}/health`, { secret: null });
      expect(health.status).toBe(200);
      const body = HealthResponseSchema.parse(health.body);
      expect(body.capacity).toEqual({ concurrent: 3, queue_limit: 5, in_use: 0 });
    } finally {
      await worker.close();
    }
  });

  it('reads as no capacity from a worker whose /health does not report it, and as room from one that does', async () => {
    // An older worker: /health without the capacity field.
    const older: Server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ status: 'ok', model: 'old', queue: { waiting: 0, running: 0 }, uptime_s: 1 }));
    });
    await new Promise<void>((resolve) => older.listen(0, '127.0.0.1', resolve));
    const worker = await serve(engine, { secret: SECRET, maxBatch: 4 });
    const clients: InferenceClient[] = [];
    try {
      const olderUrl = `http://127.0.0.1:${(older.address() as AddressInfo).port}`;
      const mixed = createInferenceClient({ urls: [worker.url, olderUrl], secret: SECRET });
      const current = createInferenceClient({ urls: [worker.url], secret: SECRET });
      clients.push(mixed, current);
      expect(await mixed.capacity!()).toBeNull();
      expect(await current.capacity!()).toEqual({ concurrent: 4, free: 4, othersInUse: 0 });
    } finally {
      for (const client of clients) await client.close();
      await worker.close();
      await new Promise((resolve) => older.close(resolve));
    }
  });
});

describe('dispatching by the workers\' capacity', () => {
  /**
   * Two workers of the given batch sizes (one lane each, so capacity = batch size, with a queue
   * as long), and more analyses than they take at once. Returns what each worker saw.
   */
  async function dispatch(batchSizes: [number, number], analyses: number): Promise<{ seen: Seen[]; views: AnalysisView[] }> {
    const gate = new Gate();
    const workers = await Promise.all(batchSizes.map((maxBatch) => serve(gated(engine, gate), { secret: SECRET, maxBatch, queueLimit: maxBatch })));
    const seen = workers.map(watch);
    const client = createInferenceClient({ urls: workers.map((w) => w.url), secret: SECRET, timeoutMs: 60_000 });
    const services = await createServices(testConfig(database.target, { CONFAB_RATE_LIMIT_PER_MINUTE: '1000' }), { backend: client, pollMs: 50, logger: silentLogger });
    try {
      const followUps: Array<Promise<unknown>> = [];
      for (let i = 0; i < analyses; i++) {
        const result = await run(services, actor(`reviewer-${i % 3}`), 'explain', { prompt: `Capacity prompt ${i}: the jargon file says` });
        expect(result.view.kind, JSON.stringify(result.view)).toBe('analysis');
        followUps.push(result.followUp!);
      }
      const capacity = batchSizes[0] + batchSizes[1];
      // Held at the engine, every request sent stays in its worker: the dispatcher must fill both.
      await until(`${capacity} requests in the workers`, () => seen[0].now + seen[1].now === capacity);
      gate.open();
      const views = (await Promise.all(followUps)) as AnalysisView[];
      return { seen, views };
    } finally {
      gate.open();
      await services.close();
      for (const worker of workers) await worker.close();
    }
  }

  it('fills both workers to their capacity and never past it: no 429, every analysis done', async () => {
    const { seen, views } = await dispatch([2, 2], 6);
    expect(views.map((v) => v.status)).toEqual(Array(6).fill('done'));
    for (const worker of seen) {
      expect(worker.most).toBe(2);
      expect(worker.statuses.filter((s) => s !== 200)).toEqual([]);
      expect(worker.statuses.length).toBeGreaterThan(0);
    }
    expect(seen[0].statuses.length + seen[1].statuses.length).toBe(6);
  });

  it('never sends a worker that reports capacity 1 two requests at once', async () => {
    const { seen, views } = await dispatch([1, 3], 6);
    expect(views.map((v) => v.status)).toEqual(Array(6).fill('done'));
    expect(seen[0].most).toBe(1);
    expect(seen[1].most).toBe(3);
    for (const worker of seen) expect(worker.statuses.filter((s) => s !== 200)).toEqual([]);
    expect(seen[0].statuses.length).toBeGreaterThan(0);
  });
});
