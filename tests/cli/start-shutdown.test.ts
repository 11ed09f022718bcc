/**
 * `confab start` with the embedded worker shuts down cleanly while its engine threads run: a
 * second SIGTERM must not exit at once, since ONNX Runtime aborts the process (exit 134) when it
 * is torn down inside a run. It stops the running analyses at their next step instead, and the
 * process exits 0 once they have.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { HealthResponseSchema } from '../../src/worker/http/health';
import { cleanUp, startConfab } from './run-confab';

afterAll(cleanUp);

async function until<T>(what: string, value: () => T | undefined | Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 6000; i++) {
    const found = await value();
    if (found !== undefined) return found;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe('confab start under two SIGTERMs while the embedded engine runs', () => {
  it('the second SIGTERM hurries the running analyses, and the exit is clean (0, not 130 or 134)', async () => {
    const bot = startConfab(['start', '--local', '--as', 'alice'], { env: { CONFAB_ENGINE_THREADS: '2', CONFAB_RATE_LIMIT_PER_MINUTE: '100', CONFAB_LOG_LEVEL: 'info' } });
    bot.child.stdin!.on('error', () => {});
    // Eight explanations each: long enough generations that the engine threads are busy.
    for (let i = 0; i < 4; i++) bot.child.stdin!.write(`/explain --samples 8 Shutdown prompt ${i}: the Jargon File on hackers and their lore.\n`);
    const url = await until('the start line with the embedded worker\'s URL', () => /embedded worker at (http:\/\/127\.0\.0\.1:\d+)/.exec(bot.stderr())?.[1]);
    // Busy: a batch is on an engine thread now.
    await until('an analysis running on the embedded worker', async () => {
      const health = HealthResponseSchema.parse(await (await fetch(`${url}/health`)).json());
      return health.queue.running > 0 || undefined;
    });

    bot.child.kill('SIGTERM');
    // Signals of one kind do not queue: the second is sent once the first has been handled.
    await until('the first SIGTERM handled', () => /SIGTERM received; shutting down/.test(bot.stderr()) || undefined);
    bot.child.kill('SIGTERM');

    const done = await bot.done;
    expect({ code: done.code, signal: done.signal }, done.stderr).toEqual({ code: 0, signal: null });
    expect(done.stderr).toMatch(/SIGTERM received again/);
  });
});
