/**
 * The bot's inference client against real workers (the reference engine): failover when a
 * worker process dies mid-request, 429 handling, timeouts, rejected requests, health checks,
 * and the embedded mode.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedInferenceClient } from '../../src/cli/embedded-worker';
import { createInferenceClient, WorkerRejectedError, WorkerUnavailableError } from '../../src/inference';
import { AnalyzeResponseSchema } from '../../src/protocol/analyze';
import type { RuntimeEngine } from '../../src/worker/runtime/engine';
import type { WorkerServer } from '../../src/worker/server';
import { loadReferenceEngine, SECRET, serve } from '../worker/http/reference-worker';

let engine: RuntimeEngine;
const servers: WorkerServer[] = [];

beforeAll(async () => {
  engine = await loadReferenceEngine();
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await engine?.close();
});

async function worker(options: Parameters<typeof serve>[1] = {}): Promise<WorkerServer & { requests: string[] }> {
  const server = await serve(engine, { secret: SECRET, ...options });
  servers.push(server);
  const requests: string[] = [];
  server.server.on('request', (req) => requests.push(`${req.method} ${req.url}`));
  return Object.assign(server, { requests });
}

/** A URL where nothing listens (a port that was just free). */
async function deadUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

function startChildWorker(batchWindowMs: number): Promise<{ child: ChildProcess; url: string; requests: AsyncIterator<string> }> {
  const script = path.join(import.meta.dirname, 'worker-child.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', script, String(batchWindowMs)], {
    env: { ...process.env, CHILD_SECRET: SECRET },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return (async () => {
    for (;;) {
      const { value, done } = await lines.next();
      if (done) throw new Error('child worker exited before listening');
      if (value.startsWith('LISTENING ')) return { child, url: value.slice('LISTENING '.length), requests: lines };
    }
  })();
}

describe('failover', () => {
  it('a worker process killed mid-request: the client fails over and the caller gets one answer', async () => {
    // The child holds each request 5 s in its batch window: it is surely in flight when killed.
    const { child, url: childUrl, requests } = await startChildWorker(5_000);
    const healthy = await worker();
    const client = createInferenceClient({ urls: [childUrl, healthy.url], secret: SECRET, timeoutMs: 20_000, retries: 1 });
    try {
      let answers = 0;
      const pending = client.analyze({ prompt: 'Failover: the first worker dies.' }).then((r) => {
        answers++;
        return r;
      });
      for (;;) {
        const { value } = await requests.next();
        if (value === 'REQUEST /v1/analyze') break;
      }
      child.kill('SIGKILL');
      const result = await pending;
      expect(AnalyzeResponseSchema.parse(result).tokens.slice(1).map((t) => t.text).join('')).toBe('Failover: the first worker dies.');
      await new Promise((r) => setTimeout(r, 100));
      expect(answers).toBe(1);
      // The surviving worker computed it exactly once.
      expect(healthy.requests.filter((r) => r === 'POST /v1/analyze')).toHaveLength(1);
      expect(healthy.queueStats().recentBatchSizes).toEqual([1]);
      const status = await client.health();
      expect(status.find((s) => s.url === childUrl)).toMatchObject({ up: false });
      expect(status.find((s) => s.url === healthy.url)).toMatchObject({ up: true });
    } finally {
      child.kill('SIGKILL');
      await client.close();
    }
  });

  it('every worker down: WorkerUnavailableError lists each URL tried and why', async () => {
    const urls = [await deadUrl(), await deadUrl()];
    const client = createInferenceClient({ urls, secret: SECRET, timeoutMs: 2_000, retries: 1, backoffMs: 10 });
    const failure = await client.analyze({ prompt: 'nobody home' }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(WorkerUnavailableError);
    const unavailable = failure as WorkerUnavailableError;
    expect(unavailable.urlsTried.sort()).toEqual([...urls].sort());
    expect(unavailable.attempts).toHaveLength(4); // two rounds over two workers
    expect(unavailable.message).toMatch(/connection refused/);
    expect(unavailable.status).toBe(503);
  });

  it('a timed-out worker is left for the next one', async () => {
    const slow = await worker({ batchWindowMs: 4_000 });
    const fast = await worker();
    const client = createInferenceClient({ urls: [slow.url, fast.url], secret: SECRET, timeoutMs: 400, retries: 0 });
    const started = performance.now();
    const result = await client.analyze({ prompt: 'too slow', nla_samples: 0 });
    expect(result.positions[0].token).toBe('w');
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(slow.requests).toContain('POST /v1/analyze');
    // The slow worker dropped the request whose client gave up, instead of computing it.
    await new Promise((r) => setTimeout(r, 100));
    expect(slow.queueStats().waiting).toBe(0);
  });

  it('an answer that fails the schema counts as a broken worker', async () => {
    let brokenCalls = 0;
    const broken: Server = createServer((_req, res) => {
      brokenCalls++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ model: 42 }));
    });
    await new Promise<void>((r) => broken.listen(0, '127.0.0.1', r));
    const good = await worker();
    const client = createInferenceClient({ urls: [`http://127.0.0.1:${(broken.address() as AddressInfo).port}`, good.url], secret: SECRET, retries: 0 });
    try {
      const result = await client.analyze({ prompt: 'validate me', nla_samples: 0 });
      expect(result.tokens.length).toBe('validate me'.length + 1);
      expect(brokenCalls).toBe(1);
      expect(good.requests).toEqual(['POST /v1/analyze']);
    } finally {
      await new Promise<void>((r) => broken.close(() => r()));
    }
  });
});

describe('busy workers and refused requests', () => {
  it('429 from one worker: the next worker answers', async () => {
    const full = await worker({ queueLimit: 0 });
    const free = await worker();
    const client = createInferenceClient({ urls: [full.url, free.url], secret: SECRET, retries: 0 });
    const result = await client.analyze({ prompt: 'try another', nla_samples: 0 });
    expect(result.positions).toHaveLength(1);
    expect(full.requests).toEqual(['POST /v1/analyze']);
    expect(free.requests).toEqual(['POST /v1/analyze']);
  });

  it('every worker busy: waits for Retry-After, then gives up with the 429s listed', async () => {
    const a = await worker({ queueLimit: 0 });
    const b = await worker({ queueLimit: 0 });
    const client = createInferenceClient({ urls: [a.url, b.url], secret: SECRET, retries: 1, backoffMs: 10 });
    const started = performance.now();
    const failure = await client.analyze({ prompt: 'busy' }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(WorkerUnavailableError);
    expect(performance.now() - started).toBeGreaterThanOrEqual(950); // Retry-After: 1
    expect((failure as WorkerUnavailableError).attempts.every((x) => x.reason.startsWith('429'))).toBe(true);
    expect(a.requests).toHaveLength(2);
  });

  it('a 4xx is WorkerRejectedError with the worker\'s detail, and is not retried elsewhere', async () => {
    const first = await worker();
    const second = await worker();
    const client = createInferenceClient({ urls: [first.url, second.url], secret: SECRET, retries: 2 });
    const failure = await client.analyze({ prompt: 'abc', positions: [40] }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(WorkerRejectedError);
    const rejected = failure as WorkerRejectedError;
    expect(rejected.status).toBe(400);
    expect(rejected.detail).toMatch(/40/);
    expect(first.requests.length + second.requests.length).toBe(1);

    // A refused secret is the worker's configuration, not the request: no worker could answer.
    const unauthorized = createInferenceClient({ urls: [first.url], secret: 'not-the-secret', retries: 0 });
    const denied = await unauthorized.analyze({ prompt: 'x' }).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(WorkerUnavailableError);
    expect((denied as WorkerUnavailableError).misconfigured).toBe(true);
    expect((denied as WorkerUnavailableError).attempts[0].reason).toMatch(/^misconfigured: refused our CONFAB_WORKER_SECRET \(401 unauthorized/);
  });

  it('a bad request is refused by the client before any worker is called', async () => {
    const w = await worker();
    const client = createInferenceClient({ urls: [w.url], secret: SECRET });
    const failure = await client.analyze({ prompt: '', top_k: 0 }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(WorkerRejectedError);
    expect((failure as WorkerRejectedError).detail).toMatch(/prompt/);
    expect(w.requests).toEqual([]);
  });
});

describe('health checks', () => {
  it('a worker that comes back is probed with /health after its cooldown and used again', async () => {
    const url = await deadUrl();
    const client = createInferenceClient({ urls: [url], secret: SECRET, retries: 0, cooldownMs: 50 });
    await expect(client.analyze({ prompt: 'early', nla_samples: 0 })).rejects.toBeInstanceOf(WorkerUnavailableError);
    expect((await client.health())[0]).toMatchObject({ up: false });
    const revived = await serve(engine, { secret: SECRET, port: Number(new URL(url).port) });
    servers.push(revived);
    await new Promise((r) => setTimeout(r, 60));
    const result = await client.analyze({ prompt: 'later', nla_samples: 0 });
    expect(result.positions[0].token).toBe('r');
    expect((await client.health())[0]).toMatchObject({ up: true });
  });
});

describe('embedded mode', () => {
  it('serves an in-process worker on loopback, guarded by a per-process secret', async () => {
    const client = await createEmbeddedInferenceClient({ engine, ownsEngine: false });
    try {
      const caps = await client.capabilities();
      expect(caps.d_model).toBe(128);
      const result = await client.analyze({ prompt: 'embedded worker' });
      expect(result.positions[0].explanations).toHaveLength(1);
      expect(client.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await fetch(`${client.url}/v1/capabilities`)).status).toBe(401);
    } finally {
      await client.close();
    }
    // The engine was lent, not handed over: it still works.
    const [again] = await engine.analyzeBatch([{ prompt: 'still open', top_k: 1, nla_samples: 0, return_activations: false }]);
    expect(again).not.toBeInstanceOf(Error);
  });
});
