/**
 * How the engine threads load: the first alone, the engine serving as soon as it has; the others
 * after it, taking calls (and counting in the worker's capacity) only once loaded; one that
 * cannot load is logged and left out.
 *
 * Node's Worker is wrapped (not Confab's code) to see when each thread is started, relative to
 * the threads before it reporting that they loaded, and to act just before a thread starts.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { REFERENCE_MODELS } from '../../../src/config';
import { HealthResponseSchema } from '../../../src/worker/http/health';
import { WorkQueue } from '../../../src/worker/http/work-queue';
import type { AnalyzeRequest } from '../../../src/protocol/analyze';
import { createThreadedEngine } from '../../../src/worker/thread/engine-thread';
import { call, recordingLogger, serve } from '../http/reference-worker';

const threadsModule = createRequire(import.meta.url)('node:worker_threads') as { Worker: typeof Worker };
const NodeWorker = threadsModule.Worker;

/** Each engine thread started: how many threads had reported loaded by then, and whether it has exited. */
let started: Array<{ loadedBefore: number; exited: boolean }> = [];
let loadedSoFar = 0;
/** Runs just before the next thread after the first is started. */
let beforeLaterThread: (() => void) | null = null;

beforeAll(() => {
  threadsModule.Worker = class extends NodeWorker {
    constructor(...args: ConstructorParameters<typeof Worker>) {
      if (started.length > 0) beforeLaterThread?.();
      super(...args);
      const entry = { loadedBefore: loadedSoFar, exited: false };
      started.push(entry);
      this.on('message', (m: { type?: string }) => {
        if (m?.type === 'ready') loadedSoFar++;
      });
      this.on('exit', () => (entry.exited = true));
    }
  } as typeof Worker;
  syncBuiltinESMExports();
});

afterAll(() => {
  threadsModule.Worker = NodeWorker;
  syncBuiltinESMExports();
});

beforeEach(() => {
  started = [];
  loadedSoFar = 0;
  beforeLaterThread = null;
});

const request = (prompt: string): AnalyzeRequest => ({ prompt, nla_samples: 1, top_k: 4, max_new_tokens: 32, temperature: 0, return_activations: false });
const QUEUE = { queueLimit: 16, batchWindowMs: 2, maxBatch: 4 };

describe('loading the engine threads', () => {
  it('loads the first thread alone and serves from it at once; the second takes calls and capacity once loaded', async () => {
    const records: Array<Record<string, unknown>> = [];
    const engine = await createThreadedEngine(REFERENCE_MODELS, { threads: 2, log: recordingLogger(records) });
    // Nothing below awaits until the call is sent: the second thread cannot have loaded yet.
    const queue = new WorkQueue(engine, QUEUE);
    const [first] = engine.threads;
    const before = first.performance.eventLoopUtilization();
    const during = engine.analyzeBatch([request('Sent while the second thread loads.')]);
    try {
      expect(started.map((s) => s.loadedBefore)).toEqual([0, 1]);
      expect(engine.planned).toBe(2);
      expect(engine.concurrency).toBe(1);
      expect(engine.threads).toHaveLength(1);
      expect(queue.limits().concurrent).toBe(QUEUE.maxBatch);

      const [answer] = await during;
      expect(answer).not.toBeInstanceOf(Error);
      // The first thread was idle but for this call.
      expect(first.performance.eventLoopUtilization(before).active).toBeGreaterThan(0);

      await engine.whenAllLoaded();
      expect(engine.concurrency).toBe(2);
      expect(engine.threads).toHaveLength(2);
      expect(engine.threads[0]).toBe(first);
      expect(queue.limits().concurrent).toBe(2 * QUEUE.maxBatch);
      expect(records.filter((r) => r.msg === 'Engine thread 2 of 2 loaded.')).toHaveLength(1);

      const server = await serve(engine, QUEUE);
      try {
        const health = HealthResponseSchema.parse((await call(`${server.url}/health`, { secret: null })).body);
        expect(health.capacity?.concurrent).toBe(2 * QUEUE.maxBatch);
      } finally {
        await server.close();
      }
    } finally {
      queue.close();
      await engine.close();
    }
  });

  it('starts work that waits for a lane on the second thread as soon as that thread loads', async () => {
    const engine = await createThreadedEngine(REFERENCE_MODELS, { threads: 2 });
    const queue = new WorkQueue(engine, QUEUE);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let startSecond!: () => void;
    const secondStarted = new Promise<void>((resolve) => (startSecond = resolve));
    try {
      // The only lane stays busy until released, so nothing but the new lane can start the second.
      let firstDone = false;
      const first = queue.task(() => gate).then(() => (firstDone = true));
      const second = queue.task(async () => startSecond());
      expect(queue.stats()).toMatchObject({ waiting: 2 });
      await engine.whenAllLoaded();
      // Without the new lane this never resolves (the test times out): the first lane is held.
      await secondStarted;
      expect(firstDone).toBe(false);
      release();
      await Promise.all([first, second]);
    } finally {
      release();
      queue.close();
      await engine.close();
    }
  });

  it('logs a second thread that cannot load, leaves it out, and serves on the first', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'confab-thread-load-'));
    cpSync(path.dirname(REFERENCE_MODELS), dir, { recursive: true });
    // The first thread loaded these models; the second finds its subject model gone.
    beforeLaterThread = () => rmSync(path.join(dir, 'subject.onnx'));
    const records: Array<Record<string, unknown>> = [];
    const engine = await createThreadedEngine(path.join(dir, path.basename(REFERENCE_MODELS)), { threads: 2, log: recordingLogger(records) });
    try {
      await engine.whenAllLoaded();
      expect(started).toHaveLength(2);
      expect(started[1].exited).toBe(true);
      expect(engine.concurrency).toBe(1);
      expect(engine.threads).toHaveLength(1);
      const warnings = records.filter((r) => r.level === 40).map((r) => String(r.msg));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/^An engine thread could not load the models \(.*subject\.onnx.*\); serving on 1 of 2 engine threads\.$/);
      const [answer] = await engine.analyzeBatch([request('Served by the first thread alone.')]);
      expect(answer).not.toBeInstanceOf(Error);
    } finally {
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('closes a thread that is still loading, and takes no call after close', async () => {
    const engine = await createThreadedEngine(REFERENCE_MODELS, { threads: 2 });
    await engine.close();
    await engine.whenAllLoaded();
    expect(started).toHaveLength(2);
    expect(started.every((s) => s.exited)).toBe(true);
    expect(engine.concurrency).toBe(1);
    await expect(engine.analyzeBatch([request('after close')])).rejects.toMatchObject({ code: 'shutting_down' });
  });

  it('with one thread, has nothing more to load', async () => {
    const engine = await createThreadedEngine(REFERENCE_MODELS, { threads: 1 });
    try {
      await engine.whenAllLoaded();
      expect(started).toHaveLength(1);
      expect(engine.planned).toBe(1);
      expect(engine.concurrency).toBe(1);
    } finally {
      await engine.close();
    }
  });
});
