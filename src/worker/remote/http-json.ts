/**
 * One JSON POST to a remote model server, with a timeout, the caller's abort signal, and
 * failures turned into EngineErrors the worker's HTTP edge can report (502/503/504); and the
 * one way a busy server is waited out (`whileBusy`).
 */
import { EngineError } from '../engine';

/** The server said it is too busy (429, or 503 from vLLM and SGLang when their queue is full). */
export class BackendBusyError extends EngineError {
  constructor(
    message: string,
    /** The server's Retry-After, when it sent one. */
    readonly retryAfterMs: number | undefined,
  ) {
    super(503, 'backend_busy', message);
    this.name = 'BackendBusyError';
  }
}

export function parseRetryAfter(header: string | null | undefined): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

export interface BusyRetryOptions {
  /** How long, in all, a call may keep waiting for a busy server. */
  maxWaitMs: number;
  /** First backoff; doubles each time, with jitter, and never undercuts Retry-After. */
  backoffMs?: number;
  signal?: AbortSignal;
}

/**
 * Run `call` again while it fails with BackendBusyError, waiting Retry-After or a doubling
 * backoff, until `maxWaitMs` is spent; then the last busy error stands, reported as busy.
 */
export async function whileBusy<T>(call: () => Promise<T>, options: BusyRetryOptions): Promise<T> {
  const deadline = Date.now() + options.maxWaitMs;
  let backoff = options.backoffMs ?? 200;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof BackendBusyError)) throw err;
      const wait = Math.max(err.retryAfterMs ?? 0, backoff * (0.5 + Math.random() / 2));
      if (Date.now() + wait > deadline) throw err;
      await sleep(wait, options.signal);
      backoff *= 2;
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

export interface PostJsonOptions {
  headers?: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Names the server in error messages, e.g. "SGLang". */
  service: string;
  /** Statuses that mean "busy, try later" (default 429 and 503). */
  busyStatuses?: number[];
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
    const message = `${options.service} at ${url} answered ${response.status}: ${text.slice(0, 500)}`;
    if ((options.busyStatuses ?? [429, 503]).includes(response.status)) throw new BackendBusyError(`${message} (busy)`, parseRetryAfter(response.headers.get('retry-after')));
    throw new EngineError(502, 'backend_failed', message);
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
