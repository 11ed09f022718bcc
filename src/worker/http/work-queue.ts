/**
 * The worker's one bounded queue, in front of the engine.
 *
 * Engine work runs in lanes, one per call the engine can run at once (`engine.concurrency`:
 * one per engine thread; one for an engine on the event loop). On a small CPU two forward
 * passes on one copy of the models only thrash the caches, and on a GPU the engine batches
 * internally. Analyze requests that are waiting together (arrived within `batchWindowMs` of
 * each other, or while earlier batches ran) go to `engine.analyzeBatch` as ONE batch, so the
 * subject model, the SAE and the AR make one forward pass for all of them; when several lanes
 * are free, the waiting requests are shared out between them. Other routes (/describe, /score,
 * topk-by-token) queue as single jobs in the same lanes.
 *
 * A request whose client went away before its batch starts is dropped; the queue never runs
 * work nobody will read.
 *
 * Admission is by estimated cost (`cost.ts`): a request is refused with 429 when the work
 * already queued would keep it waiting longer than `maxQueueWaitMs`, with a Retry-After of the
 * time that work takes to drain. A request that still waits that long (the estimate was short)
 * is answered 429 then, so every request gets an answer within the wait bound plus one batch.
 */
import type { AnalyzeRequest, AnalyzeResponse } from '../../protocol/analyze';
import { EngineError, type Engine } from '../engine';
import { analyzeCost, CostMeter } from './cost';
import { ClientGoneError, HttpError } from './errors';

export interface WorkQueueOptions {
  /** Jobs that may wait (not counting the batch that is running). Beyond it: 429. */
  queueLimit: number;
  /** How long the first request of an idle worker waits for company before its batch starts. */
  batchWindowMs: number;
  /** Most analyze requests in one engine batch. */
  maxBatch: number;
  /**
   * After a batch of n > 1, how long the next batch may wait for up to n requests. The clients
   * just answered need a round trip to send their next request; without this pause the one
   * request that arrived during the batch starts alone, and closed-loop clients settle into
   * alternating batches of one and of all the others, who wait out its forward pass. When no other
   * lane is running, the pause is also capped at a tenth of the batch it follows, so an idle
   * engine never waits more than 10% of the work it saves. Default 25 ms.
   */
  regroupMs?: number;
  /** The longest a request may wait for its batch to start (see above). Default 10 s. */
  maxQueueWaitMs?: number;
}

interface QueuedJob {
  signal?: AbortSignal;
  enqueuedAt: number;
  /** Estimated work, in cost units. */
  cost: number;
  /** Refuses the job when it has waited maxQueueWaitMs. */
  deadline?: NodeJS.Timeout;
}

interface AnalyzeJob extends QueuedJob {
  kind: 'analyze';
  request: AnalyzeRequest;
  resolve(r: AnalyzeResponse): void;
  reject(e: unknown): void;
  detach(): void;
}

interface TaskJob extends QueuedJob {
  kind: 'task';
  run(signal: AbortSignal): Promise<unknown>;
  resolve(r: unknown): void;
  reject(e: unknown): void;
  detach(): void;
}

type Job = AnalyzeJob | TaskJob;

export interface QueueStats {
  waiting: number;
  running: number;
  batches: number;
  /** Sizes of the analyze batches run so far, most recent last (last 100 kept). */
  recentBatchSizes: number[];
  /** Estimated time until the work waiting and running now is done, in ms. */
  drainMs: number;
  /** Requests in the worker now: waiting, in running batches, or running as tasks. */
  inUse: number;
}

/** What the worker takes at once, reported in /health so the bot's dispatchers send no more. */
export interface QueueLimits {
  /** Analyze requests run at once: lanes times the largest batch. */
  concurrent: number;
  /** Requests that may wait beyond those before a 429. */
  queueLimit: number;
}

export class WorkQueue {
  private readonly waiting: Job[] = [];
  private running = 0;
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private closed = false;
  private batches = 0;
  private readonly recentBatchSizes: number[] = [];
  private readonly meter = new CostMeter();
  /** Cost units of the jobs waiting. */
  private waitingCost = 0;
  /** The batches and tasks on the lanes now, for the drain estimate. */
  private readonly onLanes = new Set<{ startedAt: number; cost: number }>();
  private readonly maxQueueWaitMs: number;
  private readonly idleWaiters: Array<() => void> = [];
  private lastBatchEnd = 0;
  private lastBatchSize = 0;
  private lastBatchMs = 0;
  /** Analyze requests inside running batches. */
  private runningRequests = 0;
  private runningTasks = 0;
  /**
   * How many analyze requests are in the worker at once lately (waiting or running): the most
   * seen in this demand window and the one before. The clients of a finished batch are away
   * for a round trip, so the count at any one moment understates how many will be back.
   */
  private demandNow = 0;
  private demandBefore = 0;
  private demandWindowStart = 0;

  constructor(
    private readonly engine: Engine,
    private readonly options: WorkQueueOptions,
  ) {
    this.maxQueueWaitMs = options.maxQueueWaitMs ?? 10_000;
    engine.onConcurrencyChange?.(() => this.schedule());
  }

  /** Read at each use: an engine on threads gains lanes as its threads after the first load. */
  private get lanes(): number {
    return Math.max(1, this.engine.concurrency ?? 1);
  }

  stats(): QueueStats {
    return {
      waiting: this.waiting.length,
      running: this.running,
      batches: this.batches,
      recentBatchSizes: [...this.recentBatchSizes],
      drainMs: Math.round(this.drainMs()),
      inUse: this.waiting.length + this.runningRequests + this.runningTasks,
    };
  }

  limits(): QueueLimits {
    return { concurrent: this.lanes * this.options.maxBatch, queueLimit: this.options.queueLimit };
  }

  /**
   * How long the work queued and running now will take, shared out over the lanes: what a
   * request admitted now would wait, and so what Retry-After says.
   */
  private drainMs(): number {
    const now = performance.now();
    let running = 0;
    for (const work of this.onLanes) running += Math.max(0, this.meter.ms(work.cost) - (now - work.startedAt));
    return (this.meter.ms(this.waitingCost) + running) / this.lanes;
  }

  analyze(request: AnalyzeRequest, signal?: AbortSignal): Promise<AnalyzeResponse> {
    return new Promise<AnalyzeResponse>((resolve, reject) => {
      this.admit({ kind: 'analyze', request, signal, enqueuedAt: performance.now(), cost: analyzeCost(request), resolve, reject, detach: () => {} });
    });
  }

  /** Run `run` alone on the engine lane, after the jobs already waiting; `cost` in units (cost.ts). */
  task<T>(run: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal, cost = 1): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.admit({
        kind: 'task',
        run,
        signal,
        enqueuedAt: performance.now(),
        cost,
        resolve: resolve as (r: unknown) => void,
        reject,
        detach: () => {},
      });
    });
  }

  /** Resolves when no batch or task is on a lane (at once when none is). */
  idle(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Reject everything still waiting; the running job finishes on its own. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer as NodeJS.Timeout);
    clearImmediate(this.timer as NodeJS.Immediate);
    for (const job of this.waiting.splice(0)) {
      this.leave(job);
      job.reject(new HttpError(503, 'shutting_down', 'The worker is shutting down; send the request to another worker.'));
    }
  }

  private admit(job: Job): void {
    if (this.closed) {
      job.reject(new HttpError(503, 'shutting_down', 'The worker is shutting down; send the request to another worker.'));
      return;
    }
    if (job.signal?.aborted) {
      job.reject(new ClientGoneError());
      return;
    }
    const aheadMs = this.drainMs();
    if (this.waiting.length >= this.options.queueLimit) {
      job.reject(this.busy('queue_full', `The worker's queue is full (${this.options.queueLimit} waiting)`, aheadMs));
      return;
    }
    if (aheadMs > this.maxQueueWaitMs) {
      job.reject(this.busy('queue_full', `The work queued on this worker takes about ${seconds(aheadMs)} s, over its ${seconds(this.maxQueueWaitMs)} s wait limit`, aheadMs));
      return;
    }
    const signal = job.signal;
    const onAbort = () => {
      const i = this.waiting.indexOf(job);
      if (i >= 0) {
        this.waiting.splice(i, 1);
        this.leave(job);
        job.reject(new ClientGoneError());
      }
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    job.deadline = setTimeout(() => {
      const i = this.waiting.indexOf(job);
      if (i < 0) return;
      this.waiting.splice(i, 1);
      this.leave(job);
      job.reject(this.busy('queue_timeout', `This request waited ${seconds(this.maxQueueWaitMs)} s in the worker's queue without starting`, this.drainMs()));
    }, this.maxQueueWaitMs);
    job.detach = () => {
      signal?.removeEventListener('abort', onAbort);
      clearTimeout(job.deadline);
    };
    this.waiting.push(job);
    this.waitingCost += job.cost;
    if (job.kind === 'analyze') this.noteDemand();
    // A regroup pause ends as soon as as many requests wait as the last batch had.
    if (this.timer && this.running < this.lanes && this.analysesWaiting() >= this.regroupTarget()) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
      this.timer = undefined;
    }
    this.schedule();
  }

  /** A job left the waiting list (started, refused, or its client went away). */
  private leave(job: Job): void {
    job.detach();
    this.waitingCost = Math.max(0, this.waitingCost - job.cost);
  }

  /** 429 with a Retry-After of the estimated drain time, so clients return when there is room. */
  private busy(code: string, why: string, drainMs: number): HttpError {
    const retryAfterS = Math.max(1, Math.ceil(drainMs / 1000));
    return new HttpError(429, code, `${why}; retry in ${retryAfterS} s or use another worker.`, { 'retry-after': String(retryAfterS) });
  }

  private analysesWaiting(): number {
    let n = 0;
    for (const job of this.waiting) if (job.kind === 'analyze') n++;
    return n;
  }

  private noteDemand(): void {
    const now = performance.now();
    if (now - this.demandWindowStart > DEMAND_WINDOW_MS) {
      this.demandBefore = now - this.demandWindowStart > 2 * DEMAND_WINDOW_MS ? 0 : this.demandNow;
      this.demandNow = 0;
      this.demandWindowStart = now;
    }
    this.demandNow = Math.max(this.demandNow, this.analysesWaiting() + this.runningRequests);
  }

  /**
   * The batch a free lane waits for after a batch: the recent demand shared between the
   * lanes (16 clients and 2 lanes: 8 each), or what the last batch had when that is more.
   */
  private regroupTarget(): number {
    const share = Math.ceil(Math.max(this.demandNow, this.demandBefore) / this.lanes);
    return Math.min(this.options.maxBatch, Math.max(1, share, this.lanes === 1 ? this.lastBatchSize : 0));
  }

  private schedule(): void {
    if (this.running >= this.lanes || this.timer || this.waiting.length === 0) return;
    // A batch that is not full waits one window, counted from the later of its oldest
    // request's arrival and the end of the previous batch. On an idle worker that lets
    // near-simultaneous requests share a forward pass; under load it lets the clients just
    // answered send their next request into this batch instead of the one after, so batches
    // grow to maxBatch instead of alternating between two half-full groups.
    const waitingAnalyses = this.analysesWaiting();
    const full = this.waiting[0].kind === 'task' || waitingAnalyses >= this.options.maxBatch;
    const now = performance.now();
    const since = Math.max(this.waiting[0].enqueuedAt, this.lastBatchEnd);
    const windowWait = this.options.batchWindowMs - (now - since);
    // While another lane computes, the pause leaves no engine idle, so it may last the whole
    // regroupMs; with every lane idle it is capped at a tenth of the batch it follows.
    const regroupCap = this.running > 0 ? (this.options.regroupMs ?? 25) : Math.min(this.options.regroupMs ?? 25, 0.1 * this.lastBatchMs);
    const regroupWait = this.lastBatchSize > 1 && waitingAnalyses < this.regroupTarget() ? regroupCap - (now - this.lastBatchEnd) : 0;
    const wait = full ? 0 : Math.max(0, windowWait, regroupWait);
    if (wait === 0) {
      // Still yield one turn of the event loop: requests whose bytes already arrived join
      // this batch at no measurable cost.
      this.timer = setImmediate(() => {
        this.timer = undefined;
        void this.runNext();
      });
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runNext();
    }, wait);
  }

  private async runNext(): Promise<void> {
    if (this.running >= this.lanes || this.waiting.length === 0) return;
    const head = this.waiting[0];
    const started = performance.now();
    const idleLanes = this.lanes - this.running;
    let ran = 0;
    let work: { startedAt: number; cost: number } | undefined;
    this.running++;
    try {
      if (head.kind === 'task') {
        this.waiting.shift();
        this.leave(head);
        work = { startedAt: started, cost: head.cost };
        this.onLanes.add(work);
        this.schedule();
        this.runningTasks++;
        try {
          await this.runTask(head);
        } finally {
          this.runningTasks--;
        }
      } else {
        // Free lanes share the waiting requests: 16 waiting and 2 free lanes make two batches
        // of 8 that run side by side, not one of 16 beside an idle lane.
        const waiting = this.analysesWaiting();
        const limit = Math.min(this.options.maxBatch, idleLanes > 1 ? Math.max(Math.ceil(waiting / idleLanes), Math.min(waiting, this.regroupTarget())) : waiting);
        const batch: AnalyzeJob[] = [];
        for (let i = 0; i < this.waiting.length && batch.length < limit; ) {
          const job = this.waiting[i];
          if (job.kind === 'analyze') {
            this.waiting.splice(i, 1);
            this.leave(job);
            batch.push(job);
          } else i++;
        }
        work = { startedAt: started, cost: batch.reduce((sum, job) => sum + job.cost, 0) };
        this.onLanes.add(work);
        this.schedule();
        ran = await this.runBatch(batch, started);
      }
    } finally {
      const took = performance.now() - started;
      if (work) {
        this.onLanes.delete(work);
        // A batch whose clients all left before it started ran nothing, and teaches nothing.
        if (head.kind === 'task' || ran > 0) this.meter.observe(work.cost, took);
      }
      this.running--;
      this.lastBatchEnd = performance.now();
      this.lastBatchMs = took;
      // The clients of the batch that just ended are the ones about to send their next request.
      if (ran > 0) this.lastBatchSize = ran;
      this.schedule();
      if (this.running === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private async runTask(job: TaskJob): Promise<void> {
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    job.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      job.resolve(await job.run(controller.signal));
    } catch (err) {
      job.reject(err);
    } finally {
      job.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** The number of requests the engine ran (those whose clients were still there). */
  private async runBatch(batch: AnalyzeJob[], started: number): Promise<number> {
    // A job whose client left between admission and now is dropped here, not computed.
    const live = batch.filter((job) => {
      if (job.signal?.aborted) {
        job.reject(new ClientGoneError());
        return false;
      }
      return true;
    });
    if (live.length === 0) return 0;
    this.batches++;
    this.runningRequests += live.length;
    this.recentBatchSizes.push(live.length);
    if (this.recentBatchSizes.length > 100) this.recentBatchSizes.shift();

    // The engine may stop early only when every client of the batch has gone.
    const controller = new AbortController();
    let gone = 0;
    const listeners = live.map((job) => {
      const onAbort = () => {
        if (++gone === live.length) controller.abort();
      };
      job.signal?.addEventListener('abort', onAbort, { once: true });
      return onAbort;
    });
    try {
      const results = await this.engine.analyzeBatch(
        live.map((job) => job.request),
        controller.signal,
      );
      if (results.length !== live.length) {
        throw new Error(`engine.analyzeBatch returned ${results.length} results for ${live.length} requests`);
      }
      live.forEach((job, i) => {
        const result = results[i];
        if (result instanceof EngineError || result instanceof Error) job.reject(result);
        else job.resolve({ ...result, timings_ms: { ...result.timings_ms, queue: round2(started - job.enqueuedAt) } });
      });
    } catch (err) {
      // Stopped because every client left: nobody to answer, and nothing went wrong.
      const reason = controller.signal.aborted ? new ClientGoneError() : err;
      for (const job of live) job.reject(reason);
    } finally {
      this.runningRequests -= live.length;
      live.forEach((job, i) => job.signal?.removeEventListener('abort', listeners[i]));
    }
    return live.length;
  }
}

/** How long a peak of demand is remembered (it is forgotten after one to two windows). */
const DEMAND_WINDOW_MS = 1000;

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

function round2(ms: number): number {
  return Math.round(ms * 100) / 100;
}
