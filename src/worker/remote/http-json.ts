/**
 * One JSON POST to a remote model server, with a timeout, the caller's abort signal, and
 * failures turned into EngineErrors the worker's HTTP edge can report (502/503/504).
 */
import { EngineError } from '../engine';

export interface PostJsonOptions {
  headers?: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Names the server in error messages, e.g. "SGLang". */
  service: string;
}

export async function postJson(url: string, body: unknown, options: PostJsonOptions): Promise<unknown> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...options.headers },
      body: JSON.stringify(body),
      signal,
    });
  } catch (err) {
    if (timeout.aborted) throw new EngineError(504, 'backend_timeout', `${options.service} at ${url} did not answer within ${options.timeoutMs} ms.`);
    if (options.signal?.aborted) throw err;
    throw new EngineError(503, 'backend_unreachable', `${options.service} at ${url} is unreachable (${describeCause(err)}).`);
  }
  const text = await response.text();
  if (!response.ok) {
    const code = response.status === 429 ? 'backend_busy' : 'backend_failed';
    const status = response.status === 429 ? 503 : 502;
    throw new EngineError(status, code, `${options.service} at ${url} answered ${response.status}: ${text.slice(0, 500)}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new EngineError(502, 'backend_bad_response', `${options.service} at ${url} answered with something that is not JSON: ${text.slice(0, 200)}`);
  }
}

function describeCause(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

/** Run `fn` over `items` with at most `limit` in flight, keeping order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  });
  await Promise.all(lanes);
  return results;
}
