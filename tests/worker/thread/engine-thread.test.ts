/**
 * The engine on its own threads (what `confab worker` and the embedded worker serve): the same
 * answers as the engine on the event loop, errors that keep their status and code across the
 * thread boundary, a model that does not run on the event loop, and a thread that dies
 * mid-request.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFERENCE_MODELS } from '../../../src/config';
import { decodeActivation, type AnalyzeRequest, type AnalyzeResponse } from '../../../src/protocol/analyze';
import { EngineError } from '../../../src/worker/engine';
import { createEngine, type RuntimeEngine } from '../../../src/worker/runtime/engine';
import { createThreadedEngine, defaultEngineThreads, type ThreadedEngine } from '../../../src/worker/thread/engine-thread';

const request = (prompt: string, extra: Partial<AnalyzeRequest> = {}): AnalyzeRequest => ({
  prompt,
  nla_samples: 1,
  top_k: 8,
  max_new_tokens: 64,
  temperature: 0,
  return_activations: true,
  ...extra,
});
const withoutTimings = (r: AnalyzeResponse | EngineError) => {
  if (r instanceof Error) return r;
  const { timings_ms: _t, ...rest } = r;
  return rest;
};

let local: RuntimeEngine;
let threaded: ThreadedEngine;

beforeAll(async () => {
  [local, threaded] = await Promise.all([createEngine(REFERENCE_MODELS), createThreadedEngine(REFERENCE_MODELS, { threads: 2 })]);
  // The engine serves once its first thread has loaded; these tests use both.
  await threaded.whenAllLoaded();
});

afterAll(async () => {
  await Promise.all([local?.close(), threaded?.close()]);
});

describe('the engine on threads', () => {
  it('answers a batch exactly as the engine on the event loop, a bad slot included', async () => {
    const batch = [
      request('The Jargon File says a hacker enjoys exploring programmable systems.'),
      request('Chi va piano va sano e va lontano.', { positions: [99] }),
      request('El que madruga, Dios le ayuda.', { positions: [0, -1] }),
    ];
    const [want, got] = await Promise.all([local.analyzeBatch(batch), threaded.analyzeBatch(batch)]);
    expect(got[1]).toBeInstanceOf(EngineError);
    expect((got[1] as EngineError).status).toBe(400);
    expect((got[1] as EngineError).code).toBe('bad_position');
    expect((got[1] as EngineError).message).toBe((want[1] as EngineError).message);
    expect(withoutTimings(got[0])).toEqual(withoutTimings(want[0]));
    expect(withoutTimings(got[2])).toEqual(withoutTimings(want[2]));
    expect((got[0] as AnalyzeResponse).positions[0].explanations[0].text.length).toBeGreaterThan(0);
  });

  it('carries a rendered chat across the thread: its special tokens are matched there too', async () => {
    const chat = { ...request('user: hi<|eos|>\nassistant: ', { positions: [-1] }), nla_samples: 0, rendered_chat: true };
    const [got] = (await threaded.analyzeBatch([chat])) as AnalyzeResponse[];
    const ids = got.tokens.map((t) => t.id);
    // <|bos|> u s e r : ␠ h i <|eos|> …: one id (257) for the marker, not seven bytes.
    expect(ids.slice(0, 10)).toEqual([256, ...Buffer.from('user: hi'), 257]);
    const [plain] = (await threaded.analyzeBatch([{ ...chat, rendered_chat: false }])) as AnalyzeResponse[];
    expect(plain.tokens.map((t) => t.id)).not.toContain(257);
  });

  it('serves describe, score and topk-by-token as the local engine does', async () => {
    const [res] = (await local.analyzeBatch([request('Il lupo perde il pelo ma non il vizio.')])) as AnalyzeResponse[];
    const vector = decodeActivation(res.positions[0].activation!);
    const sampling = { samples: 2, temperature: 0.8, maxNewTokens: 40, seed: 7 };
    expect(await threaded.describe([vector], sampling)).toEqual(await local.describe([vector], sampling));
    const items = [{ text: 'Italian saying about a wolf', vector }];
    expect(await threaded.score(items)).toEqual(await local.score(items));
    expect(await threaded.topkByToken('hello world', 5, true)).toEqual(await local.topkByToken('hello world', 5, true));
    expect(threaded.capabilities()).toEqual(local.capabilities());
  });

  it('keeps status and code of engine errors from the thread', async () => {
    const tooLong = 'x'.repeat(local.capabilities().max_tokens + 5);
    const [err] = await threaded.analyzeBatch([request(tooLong)]);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).status).toBe(400);
    expect((err as EngineError).message).toMatch(/the limit is 127 characters \(this model reads at most 128 tokens\)/);
    await expect(threaded.score([{ text: 'x', vector: new Float32Array(3) }])).rejects.toMatchObject({ status: 400, name: 'EngineError' });
  });

  it('runs the model off the event loop: this thread stays idle while a batch computes', async () => {
    const batch = Array.from({ length: 16 }, (_, i) => request(`Batch row ${i}: a fortune in Spanish about patience.`, { return_activations: false }));
    const busy = async (engine: RuntimeEngine | ThreadedEngine) => {
      const before = performance.eventLoopUtilization();
      await engine.analyzeBatch(batch);
      return performance.eventLoopUtilization(before).utilization;
    };
    const onLoop = await busy(local);
    const offLoop = await busy(threaded);
    // ORT's run() is synchronous: on the event loop, the batch is almost all busy time.
    expect(onLoop).toBeGreaterThan(0.7);
    expect(offLoop).toBeLessThan(0.3);
  });

  it('runs calls on both threads at once', async () => {
    expect(threaded.concurrency).toBe(2);
    expect(threaded.threads).toHaveLength(2);
    const before = threaded.threads.map((t) => t.performance.eventLoopUtilization());
    const batch = (k: number) => Array.from({ length: 4 }, (_, i) => request(`Parallel batch ${k}, row ${i}.`, { return_activations: false }));
    const results = await Promise.all([threaded.analyzeBatch(batch(0)), threaded.analyzeBatch(batch(1))]);
    expect(results.flat().every((r) => !(r instanceof Error))).toBe(true);
    // Each thread did work for this pair of calls.
    threaded.threads.forEach((t, i) => expect(t.performance.eventLoopUtilization(before[i]).active).toBeGreaterThan(5));
  });

  it('stops a generation whose caller aborted, and serves the next call', async () => {
    const controller = new AbortController();
    const running = threaded.analyzeBatch([request('An abandoned request about the Devil\'s Dictionary.', { max_new_tokens: 64 })], controller.signal);
    setTimeout(() => controller.abort(), 2);
    await expect(running).rejects.toMatchObject({ name: 'AbortError' });
    const [ok] = await threaded.analyzeBatch([request('After the abort.')]);
    expect(ok).not.toBeInstanceOf(Error);
  });

  it('fails the calls of a thread that dies mid-request with a 503, starts a new thread, and serves on', async () => {
    const engine = await createThreadedEngine(REFERENCE_MODELS, { threads: 1 });
    try {
      const batch = Array.from({ length: 16 }, (_, i) => request(`Doomed row ${i}.`));
      const doomed = engine.analyzeBatch(batch);
      await new Promise((r) => setTimeout(r, 5));
      // An uncaught exception in the thread ends it, as a bug in it would: here, a message it
      // cannot read, handled between two decoder steps of the running batch. (Worker.terminate()
      // is no substitute: landing inside onnxruntime-node's native run(), it aborts the process.)
      engine.threads[0].postMessage(null);
      const err = await doomed.then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(EngineError);
      expect(err).toMatchObject({ status: 503, code: 'engine_restarted' });
      expect(engine.restarts).toBe(1);
      const [after] = await engine.analyzeBatch([request('The thread came back.')]);
      expect(after).not.toBeInstanceOf(Error);
      expect((after as AnalyzeResponse).positions[0].explanations).toHaveLength(1);
    } finally {
      await engine.close();
    }
  });

  it('lets a running batch finish when it is closed', async () => {
    const engine = await createThreadedEngine(REFERENCE_MODELS, { threads: 1 });
    const running = engine.analyzeBatch([request('Closed while running.')]);
    await new Promise((r) => setTimeout(r, 2));
    const closing = engine.close();
    const [result] = await running;
    expect(result).not.toBeInstanceOf(Error);
    await closing;
    await expect(engine.analyzeBatch([request('after close')])).rejects.toMatchObject({ code: 'shutting_down' });
  });

  it('reports a manifest that does not load as the loader does, naming the file', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'confab-bad-manifest-'));
    const file = path.join(dir, 'manifest.yaml');
    writeFileSync(file, 'name: broken\nsubject: {onnx: missing.onnx}\n');
    const local = await createEngine(file).catch((e: Error) => e);
    const err = await createThreadedEngine(file, { threads: 2 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toBe((local as Error).name);
    expect((err as Error).message).toBe((local as Error).message);
    expect((err as Error).message).toContain(file);
  });

  it('defaults to one thread per core up to 2 on cpu, and one on cuda', () => {
    expect(defaultEngineThreads('cuda')).toBe(1);
    expect(defaultEngineThreads('cpu')).toBe(Math.min(2, os.availableParallelism()));
    expect(defaultEngineThreads('cpu')).toBeGreaterThanOrEqual(1);
  });

  it('refuses a thread count that is not a whole number of at least 1', async () => {
    await expect(createThreadedEngine(REFERENCE_MODELS, { threads: 0 })).rejects.toMatchObject({ code: 'bad_threads' });
  });
});
