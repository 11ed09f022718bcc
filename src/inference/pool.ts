/**
 * A pool of worker URLs: which ones are up, which to try next, and one request tried across
 * them until exactly one answer (or one error) comes back.
 *
 * - A worker that drops a connection, refuses it, or times out is marked down for a cooldown
 *   and the request moves on to the next worker at once. Analyze requests have no side
 *   effects, so re-sending one to another worker is safe.
 * - 429: the next worker is tried; when every worker was busy, the pool waits for the
 *   shortest Retry-After (with jitter, so many bots do not return in step) and tries again.
 * - 5xx and invalid answers count against that worker, like a dropped connection.
 * - 401 and 403 mean this worker is misconfigured (it does not take our secret), not that the
 *   request is bad: the worker is marked down with that reason and the next one is tried.
 * - Any other 4xx is the request's fault: WorkerRejectedError, not retried.
 * - A down worker is probed with GET /health when its cooldown ends (lazily, on the next
 *   request), or every `healthIntervalMs` when set; a misconfigured one with an authenticated
 *   GET /v1/capabilities, since /health takes no secret and would call it healthy.
 * - Capacity: a worker's /health says how many requests it runs at once and how many it holds
 *   now from every client. `capacity()` turns that into the room left on the up workers, and
 *   requests go to the worker with the most room, so no worker is sent more than it runs.
 */
import type { z } from 'zod';
import { maskSecrets, silentLogger, type Logger } from '../log';
import { ErrorBodySchema } from '../protocol/errors';
import { HealthCapacitySchema } from '../protocol/health';
import { WorkerRejectedError, WorkerUnavailableError, type WorkerAttempt } from './errors';

export interface PoolOptions {
  urls: string[];
  secret?: string;
  /** Per attempt. */
  timeoutMs?: number;
  /** Extra rounds over the pool after the first. */
  retries?: number;
  /** How long a failed worker is skipped before it is probed again. */
  cooldownMs?: number;
  /** Probe every worker this often (0: only lazily). */
  healthIntervalMs?: number;
  /** First backoff between rounds; doubles each round, with full jitter. */
  backoffMs?: number;
  /** Longest Retry-After the pool is willing to wait for. */
  maxRetryAfterMs?: number;
  /** The route probed for liveness, with the secret (default `/health`; Neuronpedia's NLA server: `/`). */
  healthPath?: string;
  /** Where a worker found misconfigured is reported (once, until it is fixed). */
  logger?: Logger;
}

export interface WorkerStatus {
  url: string;
  up: boolean;
  inFlight: number;
  lastError?: string;
  /** The worker refused our secret (401/403): fixing its configuration, not waiting, brings it back. */
  misconfigured?: boolean;
  /** Epoch ms of the last health probe or request outcome. */
  checkedAt?: number;
  /** Analyze requests the worker runs at once, as its /health last said. */
  concurrent?: number;
}

/** Room for analyze requests on the up workers. */
export interface PoolCapacity {
  /** Requests the up workers run at once, together. */
  concurrent: number;
  /** Of those, how many are not taken by this pool's requests or, as last probed, by other clients'. */
  free: number;
  /** Of those, how many other clients (other bot processes) held, as last probed. */
  othersInUse: number;
}

interface WorkerState {
  url: string;
  /** The URL as printed: credentials in it masked. */
  label: string;
  /** Basic credentials given in the URL (a proxy in front of the worker), sent as a header. */
  authorization?: string;
  up: boolean;
  downUntil: number;
  inFlight: number;
  /** Of those, the analyze requests: what the worker's capacity counts (a tokenize takes no slot). */
  analyzing: number;
  lastError?: string;
  misconfigured?: boolean;
  checkedAt?: number;
  /** From /health; unset for a worker that does not report it. */
  concurrent?: number;
  /** Requests of other clients in the worker when it was last probed. */
  othersInUse: number;
  /** Epoch ms of the last probe that read the capacity. */
  capacityAt: number;
  /** Times it was marked down: a probe sent before the latest mark must not bring it back up. */
  downs: number;
}

type AttemptOutcome<T> =
  | { kind: 'ok'; value: T }
  | { kind: 'busy'; reason: string; retryAfterMs: number }
  | { kind: 'failed'; reason: string; misconfigured?: boolean };

export class WorkerPool {
  private readonly workers: WorkerState[];
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly cooldownMs: number;
  private readonly backoffMs: number;
  private readonly maxRetryAfterMs: number;
  private next = 0;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: PoolOptions) {
    if (options.urls.length === 0) throw new Error('An inference pool needs at least one worker URL.');
    this.workers = options.urls.map((raw) => {
      const { url, authorization } = splitCredentials(raw.replace(/\/+$/, ''));
      return { url, authorization, label: maskSecrets(raw.replace(/\/+$/, '')), up: true, downUntil: 0, inFlight: 0, analyzing: 0, othersInUse: 0, capacityAt: 0, downs: 0 };
    });
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.retries = options.retries ?? 2;
    this.cooldownMs = options.cooldownMs ?? 5_000;
    this.backoffMs = options.backoffMs ?? 250;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 10_000;
    if (options.healthIntervalMs && options.healthIntervalMs > 0) {
      this.timer = setInterval(() => void this.checkAll(), options.healthIntervalMs);
      this.timer.unref();
    }
  }

  status(): WorkerStatus[] {
    return this.workers.map(({ label, up, inFlight, lastError, misconfigured, checkedAt, concurrent }) => ({ url: label, up, inFlight, lastError, misconfigured, checkedAt, concurrent }));
  }

  /**
   * The room left on the up workers, from a /health read no older than `maxAgeMs` (probed now
   * when older), or null when an up worker reports no capacity (an older worker, another kind
   * of server) or none is up: the caller then falls back to its own fixed limit.
   */
  async capacity(maxAgeMs = 100): Promise<PoolCapacity | null> {
    const now = Date.now();
    const stale = this.workers.filter((w) => (w.up ? now - w.capacityAt > maxAgeMs : w.downUntil <= now));
    await Promise.all(stale.map((w) => this.probe(w)));
    const up = this.workers.filter((w) => w.up);
    if (up.length === 0 || up.some((w) => w.concurrent === undefined)) return null;
    return {
      concurrent: up.reduce((sum, w) => sum + w.concurrent!, 0),
      free: up.reduce((sum, w) => sum + freeSlots(w), 0),
      othersInUse: up.reduce((sum, w) => sum + w.othersInUse, 0),
    };
  }

  /** Probe every worker's /health now. */
  async checkAll(): Promise<WorkerStatus[]> {
    await Promise.all(this.workers.map((w) => this.probe(w)));
    return this.status();
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** GET or POST `path` on one worker after another until one answers; validate with `schema`. */
  async request<S extends z.ZodType>(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    schema: S,
    signal?: AbortSignal,
  ): Promise<z.output<S>> {
    const attempts: WorkerAttempt[] = [];
    for (let round = 0; round <= this.retries; round++) {
      let shortestRetryAfter = Number.POSITIVE_INFINITY;
      let allBusy = true;
      for (const worker of await this.order()) {
        signal?.throwIfAborted();
        const outcome = await this.attempt(worker, method, path, body, schema, signal);
        if (outcome.kind === 'ok') return outcome.value;
        attempts.push({ url: worker.label, reason: outcome.reason, misconfigured: outcome.kind === 'failed' && outcome.misconfigured });
        if (outcome.kind === 'busy') shortestRetryAfter = Math.min(shortestRetryAfter, outcome.retryAfterMs);
        else allBusy = false;
      }
      if (round === this.retries) break;
      const backoff = this.backoffMs * 2 ** round;
      const wait = allBusy && Number.isFinite(shortestRetryAfter) ? Math.min(shortestRetryAfter, this.maxRetryAfterMs) : backoff;
      // Full jitter on top: clients that were refused together must not come back together.
      await sleep(wait + Math.random() * backoff, signal);
    }
    throw new WorkerUnavailableError(attempts);
  }

  /** Up workers first, least loaded first, rotating among equals; down ones last (they may be back). */
  private async order(): Promise<WorkerState[]> {
    const now = Date.now();
    // Lazy health check: a down worker whose cooldown ended is probed before it is trusted again.
    await Promise.all(this.workers.filter((w) => !w.up && w.downUntil <= now).map((w) => this.probe(w)));
    const start = this.next++ % this.workers.length;
    const rotated = [...this.workers.slice(start), ...this.workers.slice(0, start)];
    const up = rotated.filter((w) => w.up).sort((a, b) => (a.concurrent !== undefined && b.concurrent !== undefined ? freeSlots(b) - freeSlots(a) : a.inFlight - b.inFlight));
    return [...up, ...rotated.filter((w) => !w.up)];
  }

  private headers(json: boolean, worker: WorkerState): Record<string, string> {
    const headers: Record<string, string> = {};
    if (worker.authorization) headers.authorization = worker.authorization;
    if (json) headers['content-type'] = 'application/json';
    if (this.options.secret) headers['x-secret-key'] = this.options.secret;
    return headers;
  }

  private async attempt<S extends z.ZodType>(
    worker: WorkerState,
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    schema: S,
    signal?: AbortSignal,
  ): Promise<AttemptOutcome<z.output<S>>> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const slot = path === '/v1/analyze';
    worker.inFlight++;
    if (slot) worker.analyzing++;
    try {
      let response: Response;
      let text: string;
      try {
        response = await fetch(worker.url + path, {
          method,
          headers: this.headers(method === 'POST', worker),
          body: method === 'POST' ? JSON.stringify(body) : undefined,
          signal: combined,
        });
        // Reading the body is inside the same guard: a worker can die after the headers.
        text = await response.text();
      } catch (err) {
        if (signal?.aborted) throw signal.reason ?? err;
        const reason = timeout.aborted ? `timed out after ${this.timeoutMs} ms` : networkReason(err);
        this.markDown(worker, reason);
        return { kind: 'failed', reason };
      }
      if (response.status === 429) {
        const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
        return { kind: 'busy', reason: `429 busy (Retry-After ${Math.round(retryAfterMs / 1000)} s)`, retryAfterMs };
      }
      if (response.status === 401 || response.status === 403) {
        const reason = misconfiguredReason(response.status, text);
        this.markDown(worker, reason, true);
        return { kind: 'failed', reason, misconfigured: true };
      }
      if (response.status >= 400 && response.status < 500) {
        const parsed = ErrorBodySchema.safeParse(safeJson(text));
        const code = parsed.success ? parsed.data.error : `http_${response.status}`;
        const detail = parsed.success ? parsed.data.detail : (fastApiDetail(safeJson(text)) ?? text.slice(0, 300));
        throw new WorkerRejectedError(worker.label, response.status, code, detail);
      }
      if (!response.ok) {
        const parsed = ErrorBodySchema.safeParse(safeJson(text));
        const reason = `${response.status} ${parsed.success ? `${parsed.data.error}: ${parsed.data.detail}` : text.slice(0, 200)}`;
        this.markDown(worker, reason);
        return { kind: 'failed', reason };
      }
      const parsed = schema.safeParse(safeJson(text));
      if (!parsed.success) {
        const reason = `invalid response: ${parsed.error.issues
          .slice(0, 3)
          .map((i) => `${i.path.join('.') || 'body'}: ${i.message}`)
          .join('; ')}`;
        this.markDown(worker, reason);
        return { kind: 'failed', reason };
      }
      worker.up = true;
      worker.lastError = undefined;
      worker.misconfigured = undefined;
      worker.checkedAt = Date.now();
      return { kind: 'ok', value: parsed.data };
    } finally {
      worker.inFlight--;
      if (slot) worker.analyzing--;
    }
  }

  private markDown(worker: WorkerState, reason: string, misconfigured = false): void {
    if (misconfigured && !worker.misconfigured) {
      (this.options.logger ?? silentLogger).error({ worker: worker.label, reason }, 'inference worker misconfigured: skipped until it accepts our secret');
    }
    worker.up = false;
    worker.downs++;
    worker.downUntil = Date.now() + this.cooldownMs;
    worker.lastError = reason;
    worker.misconfigured = misconfigured || undefined;
    worker.checkedAt = Date.now();
  }

  /**
   * The worker's count includes this pool's requests that reached it; the rest is other
   * clients' (other bot processes). Requests of ours still on their way make it an underestimate,
   * but `freeSlots` counts every request of ours anyway.
   */
  private readCapacity(worker: WorkerState, text: string): void {
    const parsed = HealthCapacitySchema.safeParse(safeJson(text));
    const capacity = parsed.success ? parsed.data.capacity : undefined;
    worker.concurrent = capacity?.concurrent;
    worker.othersInUse = capacity ? Math.max(0, capacity.in_use - worker.analyzing) : 0;
    worker.capacityAt = Date.now();
  }

  private async probe(worker: WorkerState): Promise<void> {
    const downs = worker.downs;
    try {
      const authenticated = worker.misconfigured === true;
      const probePath = authenticated ? '/v1/capabilities' : (this.options.healthPath ?? '/health');
      const response = await fetch(`${worker.url}${probePath}`, {
        headers: this.headers(false, worker),
        signal: AbortSignal.timeout(Math.min(this.timeoutMs, 2_000)),
      });
      const text = await response.text();
      if (response.status === 401 || response.status === 403) {
        this.markDown(worker, misconfiguredReason(response.status, text), true);
        return;
      }
      if (!response.ok) throw new Error(`${probePath} answered ${response.status}`);
      if (!authenticated) this.readCapacity(worker, text);
      // A request failed on it while this probe was out (a 401 to an unauthenticated /health).
      if (worker.downs !== downs) return;
      worker.up = true;
      worker.lastError = undefined;
      worker.misconfigured = undefined;
    } catch (err) {
      worker.up = false;
      worker.downUntil = Date.now() + this.cooldownMs;
      worker.lastError = `health check failed: ${networkReason(err)}`;
    }
    worker.checkedAt = Date.now();
  }
}

/** Slots of a worker that neither this pool's requests nor other clients' (as last probed) hold. */
function freeSlots(worker: WorkerState): number {
  return Math.max(0, (worker.concurrent ?? 0) - worker.othersInUse - worker.analyzing);
}

/** Says what to fix: the worker is fine, the secret the bot sends is not the one it expects. */
function misconfiguredReason(status: number, text: string): string {
  const parsed = ErrorBodySchema.safeParse(safeJson(text));
  const said = parsed.success ? `${parsed.data.error}: ${parsed.data.detail}` : `http_${status}`;
  return `misconfigured: refused our CONFAB_WORKER_SECRET (${status} ${said}); set the same secret on the bot and the worker`;
}

function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (err as { code?: string }).code;
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset';
  if (code === 'ECONNREFUSED') return 'connection refused';
  return maskSecrets(code ?? cause?.message ?? (err as Error).message);
}

/** fetch refuses a URL with user-info, so `http://user:password@host` becomes a Basic header. */
function splitCredentials(raw: string): { url: string; authorization?: string } {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    return { url: raw };
  }
  if (!parsed.username && !parsed.password) return { url: raw };
  const user = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.toString().replace(/\/+$/, ''), authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

function parseRetryAfter(header: string | null): number {
  if (!header) return 1_000;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : 1_000;
}

/** FastAPI's error bodies (Neuronpedia's servers): `{detail: "..."}` or `{detail: [{loc, msg}]}`. */
function fastApiDetail(body: unknown): string | undefined {
  const detail = (body as { detail?: unknown } | undefined)?.detail;
  if (typeof detail === 'string') return detail;
  if (!Array.isArray(detail)) return undefined;
  return detail
    .map((e: { loc?: unknown[]; msg?: unknown }) => `${(e.loc ?? []).filter((k) => k !== 'body').join('.') || 'body'}: ${String(e.msg)}`)
    .join('; ');
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
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
