/**
 * The dispatcher: takes queued analyses, sends each to the inference backend with a timeout,
 * and stores the result in one transaction, or marks the analysis failed with a reason.
 *
 * Claiming is one `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED)`, so several bot
 * processes can share one PostgreSQL without taking the same analysis. A claim carries a short
 * lease that a heartbeat renews while the work runs: a `running` analysis whose lease ran out
 * belongs to a process that died, and is queued again within a lease and a poll. A process
 * whose renewal finds the claim gone stops that work, and every finishing write is conditional
 * on still holding the claim, so two processes never both complete one analysis.
 *
 * How much to claim comes from the workers: before each round of claims the backend says how
 * many analyses the healthy workers have room for (their /health capacity, less what every
 * client has in them), and the round claims no more. A process cannot see the other processes'
 * claims in flight, only what has reached the workers, so two rounds at the same moment can
 * overshoot by a round; the workers hold that in their queue, and the next reading corrects it.
 * A backend that reports no capacity gets a fixed number of analyses per process.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { queryRows, type Database } from '../../db';
import type { AnalysisSelection } from '../../db/schema';
import type { AnalyzeRequestInput, AnalyzeResponse, Token } from '../protocol/analyze';
import { failAnalysis, storeAnalysisResult, type AnalysisFailure } from './analyses';
import type { AnalysisBackend } from './backend';
import { DomainError } from './errors';
import { silentLogger, type Logger } from '../log';

export interface DispatcherOptions {
  /** Per worker call. */
  timeoutMs: number;
  /**
   * Most analyses this process runs at once. Unset: as many as the workers have room for, or 2
   * when the backend does not report its capacity.
   */
  concurrency?: number;
  /** How often to look for work queued by other processes, and for expired leases. */
  pollMs?: number;
  /** How long a claim holds without renewal (ms, default 10 s); renewed every third of it. */
  leaseMs?: number;
  /**
   * Called after an analysis reached done or failed (by this process, or one it waits for), and
   * with `claimedPost` for a finished one left unposted (its watcher or finisher died), whose
   * post this process has just claimed.
   */
  onFinished(analysisId: number, claimedPost?: boolean): Promise<void>;
  /** The platforms whose results this process can post (null: all); the sweep claims only those. */
  servedPlatforms?: () => string[] | null;
  /**
   * Analyses a command in this process is waiting for. Another process sharing the database
   * may run them; the poll notices when they finish and reports them here too.
   */
  watched?: () => number[];
  logger?: Logger;
}

interface ClaimedAnalysis {
  id: number;
  prompt: string;
  selection: AnalysisSelection;
  nla_samples: number;
  top_k: number;
  attempts: number;
}

export class Dispatcher {
  /** Identifies this process's claims. */
  readonly instanceId = `${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly inFlight = new Map<number, { controller: AbortController; done: Promise<void> }>();
  private running = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private readonly concurrency: number | undefined;
  private readonly pollMs: number;
  private readonly leaseMs: number;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly database: Database,
    private readonly backend: AnalysisBackend | null,
    private readonly options: DispatcherOptions,
  ) {
    this.concurrency = options.concurrency;
    this.pollMs = options.pollMs ?? 2_000;
    this.leaseMs = options.leaseMs ?? 10_000;
  }

  /**
   * Marks an analysis as awaited by a command in this process, which will show the result
   * itself (editing its reply): a process that finishes it elsewhere then leaves the posting here.
   */
  async watch(analysisId: number): Promise<void> {
    await this.database.db.execute(
      sql`update analyses set watched_by = ${this.instanceId}, watched_until = now() + make_interval(secs => ${this.leaseMs / 1000}) where id = ${analysisId}`,
    );
  }

  /**
   * Resumes work left by a previous run, then keeps taking queued analyses. With PGlite this
   * process owns the database alone, so every `running` analysis was interrupted by a stop and
   * is queued again at once; on PostgreSQL only expired leases are.
   */
  async start(): Promise<void> {
    if (this.running) return;
    await this.requeueInterrupted(this.database.kind === 'pglite');
    this.heartbeat = setInterval(() => void this.renew(), this.leaseMs / 3);
    this.heartbeat.unref();
    if (!this.backend) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Renews this process's claims and watches; work whose claim was taken over is stopped. */
  private async renew(): Promise<void> {
    const held = [...this.inFlight.keys()];
    const watched = (this.options.watched?.() ?? []).filter((id) => !this.inFlight.has(id));
    const secs = this.leaseMs / 1000;
    try {
      if (held.length > 0) {
        const kept = await queryRows<{ id: number }>(this.database.db, sql`
          update analyses set lease_until = now() + make_interval(secs => ${secs})
          where status = 'running' and claimed_by = ${this.instanceId} and id in (${sql.join(held.map((id) => sql`${id}`), sql`, `)})
          returning id`);
        const keptIds = new Set(kept.map((r) => Number(r.id)));
        for (const id of held) {
          if (!keptIds.has(id)) this.inFlight.get(id)?.controller.abort(new ClaimLostError(id));
        }
      }
      if (watched.length > 0) {
        // Not a watch another process claimed after this one's lapsed (a stall): it posts them.
        await this.database.db.execute(sql`
          update analyses set watched_by = ${this.instanceId}, watched_until = now() + make_interval(secs => ${secs})
          where id in (${sql.join(watched.map((id) => sql`${id}`), sql`, `)}) and posted_at is null
            and (watched_by is null or watched_by = ${this.instanceId} or watched_until < now())`);
      }
    } catch (e) {
      // A missed renewal is survivable: the lease is three renewals long.
      this.logger.warn({ err: e }, 'dispatcher: renewing leases failed');
    }
  }

  /** Set by notify() while the loop is busy, so that a wake-up is not lost between two sleeps. */
  private woken = false;

  /** Wakes the loop: a new analysis was queued in this process, or a slot came free. */
  notify(): void {
    this.woken = true;
    this.wake?.();
  }

  /**
   * Stops taking work, aborts calls in flight and puts their analyses back in the queue, so
   * the next start (of this or another process) runs them.
   */
  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    this.running = false;
    this.wake?.();
    // The loop first: a claim it made just now becomes in-flight work only when the claim's
    // query returns, and that work must be aborted and queued again too.
    await this.loop?.catch(() => {});
    this.loop = null;
    for (const { controller } of this.inFlight.values()) controller.abort(new Error('Confab is stopping'));
    await Promise.allSettled([...this.inFlight.values()].map((f) => f.done));
    // Commands here no longer wait: whichever process finishes these now posts them.
    await this.database.db
      .execute(sql`update analyses set watched_by = null, watched_until = null where watched_by = ${this.instanceId}`)
      .catch((err) => this.logger.warn({ err }, 'dispatcher: releasing watched analyses failed'));
  }

  private async run(): Promise<void> {
    let lastSweep = Date.now();
    while (this.running) {
      this.woken = false;
      try {
        let room = await this.room();
        while (this.running && room > 0) {
          const claimed = await this.claim();
          if (!claimed) break;
          room--;
          const controller = new AbortController();
          const done = this.process(claimed, controller.signal).finally(() => {
            this.inFlight.delete(claimed.id);
            this.notify();
          });
          this.inFlight.set(claimed.id, { controller, done });
        }
        await this.reportFinishedElsewhere();
        if (Date.now() - lastSweep >= this.pollMs) {
          lastSweep = Date.now();
          if ((await this.requeueInterrupted(false)) > 0) this.woken = true; // claimed at once, not a poll later
          await this.postUnposted();
        }
      } catch (e) {
        this.logger.error({ err: e }, 'dispatcher: claiming work failed');
      }
      if (!this.running) break;
      if (this.woken) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.pollMs);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = null;
          resolve();
        };
      });
    }
  }

  /** How many analyses this round may claim: the workers' free room, within this process's own limit. */
  private async room(): Promise<number> {
    const own = (this.concurrency ?? Number.POSITIVE_INFINITY) - this.inFlight.size;
    if (own <= 0) return 0;
    const capacity = await this.backend?.capacity?.().catch((err: unknown) => {
      this.logger.warn({ err }, 'dispatcher: reading the workers\' capacity failed');
      return null;
    });
    if (!capacity) return Math.min(own, (this.concurrency ?? FIXED_CONCURRENCY) - this.inFlight.size);
    // Every analysis this process holds takes a slot, including those claimed but not yet sent.
    return Math.min(own, capacity.concurrent - capacity.othersInUse - this.inFlight.size);
  }

  private async claim(): Promise<ClaimedAnalysis | null> {
    const rows = await queryRows<ClaimedAnalysis>(this.database.db, sql`
      update analyses
      set status = 'running', attempts = attempts + 1, claimed_by = ${this.instanceId},
          lease_until = now() + make_interval(secs => ${this.leaseMs / 1000}),
          started_at = now(), updated_at = now()
      where id = (
        select id from analyses where status = 'queued' order by id limit 1 for update skip locked
      )
      returning id, prompt, selection, nla_samples, top_k, attempts
    `);
    return rows[0] ?? null;
  }

  private async reportFinishedElsewhere(): Promise<void> {
    const ids = (this.options.watched?.() ?? []).filter((id) => !this.inFlight.has(id));
    if (ids.length === 0) return;
    const rows = await queryRows<{ id: number }>(
      this.database.db,
      sql`select id from analyses where id in (${sql.join(ids.map((id) => sql`${id}`), sql`, `)}) and status in ('done', 'failed')`,
    );
    for (const { id } of rows) {
      if (this.inFlight.has(id)) continue;
      await this.options.onFinished(id).catch((e: unknown) => this.logger.error({ analysisId: id, err: e }, 'dispatcher: reporting a finished analysis failed'));
    }
  }

  /**
   * Finished results nobody is about to post (their watcher or finisher died, or served another
   * platform). Taking the lapsed watch is the claim, so one process posts each; the second of
   * grace leaves a result to the process that has just finished it.
   */
  private async postUnposted(): Promise<void> {
    const served = this.options.servedPlatforms?.() ?? null;
    if (served !== null && served.length === 0) return;
    const platforms = served === null ? sql`true` : sql`w.platform in (${sql.join(served.map((p) => sql`${p}`), sql`, `)})`;
    const rows = await queryRows<{ id: number }>(this.database.db, sql`
      update analyses set watched_by = ${this.instanceId}, watched_until = now() + make_interval(secs => ${this.leaseMs / 1000})
      where id in (
        select a.id from analyses a join workspaces w on w.id = a.workspace_id
        where a.posted_at is null and a.status in ('done', 'failed') and a.finished_at < now() - interval '1 second'
          and (a.watched_by is null or a.watched_until < now()) and ${platforms}
        order by a.id limit 20 for update of a skip locked)
      returning id`);
    for (const { id } of rows) {
      await this.options.onFinished(Number(id), true).catch((e: unknown) => this.logger.error({ analysisId: id, err: e }, 'dispatcher: posting an unshown result failed'));
    }
  }

  private async requeueInterrupted(all: boolean): Promise<number> {
    const rows = await queryRows<{ id: number }>(this.database.db, sql`
      update analyses set status = 'queued', claimed_by = null, lease_until = null, updated_at = now()
      where status = 'running' and (${all} or lease_until < now())
      returning id
    `);
    // Alone on the database (PGlite): nothing of a previous run still waits for a result.
    if (all) await this.database.db.execute(sql`update analyses set watched_by = null, watched_until = null where watched_by is not null`);
    return rows.length;
  }

  private async process(claimed: ClaimedAnalysis, stopSignal: AbortSignal): Promise<void> {
    const backend = this.backend!;
    let outcome: 'done' | 'failed' | 'lost' | 'stopped';
    try {
      const positions = await this.resolvePositions(backend, claimed, stopSignal);
      const response = await this.callWithTimeout(
        backend,
        { prompt: claimed.prompt, positions, top_k: claimed.top_k, nla_samples: claimed.nla_samples, return_activations: true },
        stopSignal,
      );
      outcome = (await storeAnalysisResult(this.database.db, claimed.id, this.instanceId, response)) ? 'done' : 'lost';
    } catch (e) {
      if (stopSignal.reason instanceof ClaimLostError) {
        outcome = 'lost';
      } else if (stopSignal.aborted) {
        await this.database.db
          .execute(
            sql`update analyses set status = 'queued', claimed_by = null, lease_until = null, attempts = greatest(attempts - 1, 0), updated_at = now()
                where id = ${claimed.id} and status = 'running' and claimed_by = ${this.instanceId}`,
          )
          .catch((err) => this.logger.warn({ analysisId: claimed.id, err }, 'dispatcher: analysis could not be queued again at stop'));
        outcome = 'stopped';
      } else {
        const failure = classifyFailure(e, this.options.timeoutMs);
        this.logger.warn({ analysisId: claimed.id, attempt: claimed.attempts, code: failure.code, err: e }, 'dispatcher: analysis failed');
        try {
          outcome = (await failAnalysis(this.database.db, claimed.id, this.instanceId, failure)) ? 'failed' : 'lost';
        } catch (err) {
          this.logger.error({ analysisId: claimed.id, err }, 'dispatcher: analysis could not be marked failed');
          outcome = 'lost';
        }
      }
    }
    if (outcome === 'done' || outcome === 'failed') {
      try {
        await this.options.onFinished(claimed.id);
      } catch (e) {
        this.logger.error({ analysisId: claimed.id, err: e }, 'dispatcher: reporting a finished analysis failed');
      }
    } else if (outcome === 'lost') {
      this.logger.warn({ analysisId: claimed.id }, 'dispatcher: analysis taken over by another process after its lease ran out; result dropped');
    }
  }

  /**
   * Token text is resolved to a position with the worker's own tokenizer: a first, cheap call
   * (SAE only, one feature) returns the tokens with their offsets into the prompt.
   */
  private async resolvePositions(backend: AnalysisBackend, claimed: ClaimedAnalysis, stopSignal: AbortSignal): Promise<number[]> {
    const selection = claimed.selection ?? {};
    if (selection.token === undefined) return selection.positions && selection.positions.length > 0 ? selection.positions : [-1];
    const probe = await this.callWithTimeout(backend, { prompt: claimed.prompt, positions: [-1], top_k: 1, nla_samples: 0 }, stopSignal);
    const position = positionOfText(claimed.prompt, probe.tokens, selection.token);
    if (position === null) {
      throw new DomainError('invalid_selection', `"${selection.token}" does not match any token of the prompt.`);
    }
    return [position];
  }

  private async callWithTimeout(backend: AnalysisBackend, request: AnalyzeRequestInput, stopSignal: AbortSignal): Promise<AnalyzeResponse> {
    const controller = new AbortController();
    const onStop = () => controller.abort(stopSignal.reason);
    stopSignal.addEventListener('abort', onStop, { once: true });
    let timer: NodeJS.Timeout | undefined;
    // The race also ends calls whose backend ignores the abort signal.
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new WorkerTimeoutError(this.options.timeoutMs);
        controller.abort(error);
        reject(error);
      }, this.options.timeoutMs);
    });
    const stopped = new Promise<never>((_, reject) => {
      if (stopSignal.aborted) reject(stopSignal.reason);
      stopSignal.addEventListener('abort', () => reject(stopSignal.reason), { once: true });
    });
    try {
      return await Promise.race([backend.analyze(request, controller.signal), timeout, stopped]);
    } finally {
      clearTimeout(timer);
      stopSignal.removeEventListener('abort', onStop);
    }
  }

  private get logger(): Logger {
    return this.options.logger ?? silentLogger;
  }
}

/** Analyses at once per process when the backend does not report the workers' capacity. */
const FIXED_CONCURRENCY = 2;

class ClaimLostError extends Error {
  constructor(readonly analysisId: number) {
    super(`analysis #${analysisId} was taken over by another process`);
    this.name = 'ClaimLostError';
  }
}

class WorkerTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`the worker did not answer within ${timeoutMs} ms`);
    this.name = 'WorkerTimeoutError';
  }
}

/** The last token overlapping the first occurrence of `text`: in a causal model it has read all of it. */
export function positionOfText(prompt: string, tokens: Token[], text: string): number | null {
  const start = prompt.indexOf(text);
  if (start < 0 || text.length === 0) return null;
  const end = start + text.length;
  let found: number | null = null;
  tokens.forEach((t, i) => {
    if (!t.special && t.start < end && t.end > start) found = i;
  });
  return found;
}

/**
 * Turns whatever the backend threw into a reason the user can read, and whether a retry can help.
 * Chat users see "the inference worker", never a URL: worker addresses and their failures are
 * for the logs and `confab doctor`.
 */
export function classifyFailure(error: unknown, timeoutMs: number): AnalysisFailure {
  if (error instanceof WorkerTimeoutError || (error as Error)?.name === 'TimeoutError') {
    return {
      code: 'worker_timeout',
      message: `The inference worker did not answer within ${timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)} s`}. Try /retry when it is less busy.`,
      retryable: true,
    };
  }
  if (error instanceof DomainError) return { code: error.code, message: error.message, retryable: false };
  const e = (error ?? {}) as {
    status?: number;
    code?: string;
    retryable?: boolean;
    misconfigured?: boolean;
    detail?: string;
    message?: string;
    cause?: { code?: string };
  };
  const status = typeof e.status === 'number' ? e.status : undefined;
  // 401/403: the worker does not take this bot's secret. The request is fine; the setup is not.
  if (e.misconfigured === true || status === 401 || status === 403) {
    return {
      code: 'worker_misconfigured',
      message: 'The inference worker refused Confab\'s credentials: it is misconfigured. An operator must set the same CONFAB_WORKER_SECRET on the bot and the worker (`confab doctor` shows which worker); then /retry.',
      retryable: true,
    };
  }
  const badRequest = status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
  const retryable = typeof e.retryable === 'boolean' ? e.retryable : !badRequest;
  const detail = withoutUrls((e.detail ?? e.message ?? String(error)).split('\n')[0].slice(0, 300));
  if (!retryable) {
    return { code: typeof e.code === 'string' ? e.code : 'invalid_request', message: `The worker rejected this analysis: ${detail}`, retryable: false };
  }
  const networkCode = typeof e.code === 'string' ? e.code : e.cause?.code;
  if (networkCode === 'ECONNREFUSED' || networkCode === 'ENOTFOUND' || networkCode === 'ECONNRESET' || networkCode === 'worker_unavailable' || status === 503) {
    return { code: 'worker_unavailable', message: 'The inference worker is unavailable. Try /retry in a moment.', retryable: true };
  }
  if (status === 429) return { code: 'worker_busy', message: 'The inference worker is busy. Try /retry in a moment.', retryable: true };
  return { code: 'worker_error', message: `The inference worker failed: ${detail}. Try /retry.`, retryable: true };
}

/** Any address in a message a chat user will read becomes "the inference worker". */
function withoutUrls(text: string): string {
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s,;)]+/gi, 'the inference worker');
}
