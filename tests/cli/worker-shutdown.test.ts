/**
 * `confab worker` shuts down cleanly while its engine threads are inside a model run: neither a
 * first nor a second SIGTERM may end the process (or a thread) under ONNX Runtime, which aborts
 * (exit 134) when torn down mid-run.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { HealthResponseSchema } from '../../src/worker/http/health';
import { cleanUp, startConfab, type ConfabProcess } from './run-confab';

afterAll(cleanUp);

const SECRET = 'shutdown-secret-0123';

async function busyWorker(): Promise<{ worker: ConfabProcess; url: string; answers: Promise<Array<number | string>> }> {
  const worker = startConfab(['worker', '--port', '0', '--engine-threads', '2'], { env: { CONFAB_WORKER_SECRET: SECRET } });
  await worker.waitForOutput(/listening on http:\/\/127\.0\.0\.1:\d+/, 120_000);
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(worker.stdout())![1];
  // The worker listens once its first engine thread has loaded; both lanes are needed here.
  for (let i = 0; i < 6000 && !/Engine thread 2 of 2 loaded/.test(worker.stderr()); i++) await new Promise((r) => setTimeout(r, 20));
  expect(worker.stderr()).toMatch(/Engine thread 2 of 2 loaded/);
  const analyze = (i: number): Promise<number | string> =>
    // Long generations: 16 samples of up to 1,024 tokens each.
    fetch(`${url}/v1/analyze`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-secret-key': SECRET },
      body: JSON.stringify({ prompt: `Request ${i}: the Jargon File on hackers.`, nla_samples: 16, max_new_tokens: 1024, temperature: 1.5, seed: i }),
    }).then(
      (r) => r.status,
      (err: Error) => err.name,
    );
  const health = async () => HealthResponseSchema.parse(await (await fetch(`${url}/health`)).json()).queue;
  const until = async (ready: (q: Awaited<ReturnType<typeof health>>) => boolean, what: string) => {
    for (let i = 0; i < 500; i++) {
      if (ready(await health())) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`the worker never reached: ${what}`);
  };
  // Requests that arrive together are shared out over the idle lanes, so the waiting ones must
  // arrive after both lanes are busy; otherwise nothing is left to refuse.
  const first = [analyze(0), analyze(1)];
  await until((q) => q.running >= 2, 'both engine threads running');
  const rest = Array.from({ length: 10 }, (_, i) => analyze(i + 2));
  await until((q) => q.waiting > 0, 'requests waiting');
  return { worker, url, answers: Promise.all([...first, ...rest]) };
}

describe('confab worker under SIGTERM while the engine threads run', () => {
  it('two SIGTERMs in quick succession: in-flight runs end, and the exit is clean (0, not 134)', async () => {
    const { worker, answers } = await busyWorker();
    worker.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 30));
    worker.child.kill('SIGTERM');
    const done = await worker.done;
    expect({ code: done.code, signal: done.signal }, done.stderr).toEqual({ code: 0, signal: null });
    expect(done.stderr).toMatch(/SIGTERM received again/);
    // Every client got an answer or a closed connection; none hangs.
    expect(await answers).toHaveLength(12);
  });

  it('one SIGTERM lets the running batches answer, refuses the waiting ones with 503, and exits 0', async () => {
    const { worker, answers } = await busyWorker();
    worker.child.kill('SIGTERM');
    const done = await worker.done;
    expect({ code: done.code, signal: done.signal }, done.stderr).toEqual({ code: 0, signal: null });
    const statuses = await answers;
    // A request whose connection the closing server no longer accepted fails to connect (fetch's TypeError).
    expect(statuses.every((s) => s === 200 || s === 503 || s === 'TypeError'), JSON.stringify(statuses)).toBe(true);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(2);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0);
  });
});
