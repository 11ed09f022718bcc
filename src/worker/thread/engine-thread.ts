/**
 * `createThreadedEngine(manifestPath)`: the runtime engine on threads of its own, behind the
 * same `Engine` interface. What `confab worker` and the embedded worker of `confab start` serve.
 *
 * Why threads: onnxruntime-node runs every graph synchronously on the thread that calls
 * `run()`. On the event loop, each forward pass would hold the HTTP server: requests would be
 * read, responses written and disconnects noticed only between two graph runs, and the HTTP
 * work of many clients would queue behind the model on one core. With the engine here, the
 * event loop parses, validates and answers requests while batches compute, and on two cores
 * the two overlap.
 *
 * Each thread holds its own copy of the models. The work queue gives each thread one batch at a
 * time (`concurrency` lanes), and a call goes to the least busy thread. When a thread dies (an
 * uncaught error in it, or V8 ending it for lack of memory), the calls it held fail with a 503
 * that the inference client fails over on, and a new thread is started for the calls after them.
 *
 * The first thread loads alone and the engine serves as soon as it has: on two cores a second
 * copy loading beside it (and beside the database `confab start` opens) slows the first answer.
 * The other threads load next and take calls once loaded; one that fails is logged and left
 * out, and the engine serves on the threads it has.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { AnalyzeResponse, ArScore, Capabilities, Explanation } from '../../protocol/analyze';
import { silentLogger, type Logger } from '../../log';
import { EngineError, type Engine, type EngineRequest, type SamplingOptions, type TopkByTokenResult } from '../engine';
import type { EngineOptions } from '../runtime/engine';
import type { ExecutionProvider } from '../runtime/execution';
import { loadManifest } from '../runtime/manifest';
import type { CallName, EngineCalls, FromHost, HostConfig, SerializedError, ToHost } from './protocol';

const BOOT = new URL('./boot.mjs', import.meta.url);

function isSerializedError(v: unknown): v is SerializedError {
  return typeof v === 'object' && v !== null && (v as SerializedError).__error === true;
}

/** The error as the caller would have seen it from an engine on its own thread. */
export function deserializeError(e: SerializedError): Error {
  const err = e.status !== undefined && e.code !== undefined ? new EngineError(e.status, e.code, e.message) : new Error(e.message);
  err.name = e.name;
  if (e.stack) err.stack = e.stack;
  return err;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/** One engine thread: a full copy of the models, running one call at a time. */
class EngineThread {
  private worker!: Worker;
  capabilities!: Capabilities;
  /** Settles when the current thread has loaded its models (or failed to). */
  ready!: Promise<void>;
  loadError: Error | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closing = false;
  /** Threads started after the first, because one died. */
  restarts = 0;

  constructor(private readonly config: HostConfig) {
    this.start();
  }

  get thread(): Worker {
    return this.worker;
  }

  /** Calls taken and not yet answered (counted from the moment they are taken, not sent). */
  inFlight = 0;

  private start(): void {
    const worker = new Worker(BOOT, { workerData: this.config });
    this.worker = worker;
    this.loadError = null;
    let loaded = false;
    let crash: Error | null = null;
    this.ready = new Promise<void>((resolve) => {
      worker.on('message', (msg: FromHost) => {
        switch (msg.type) {
          case 'ready':
            this.capabilities = msg.capabilities;
            loaded = true;
            resolve();
            return;
          case 'failed':
            this.loadError = deserializeError(msg.error);
            resolve();
            return;
          case 'result':
          case 'error': {
            const call = this.pending.get(msg.id);
            if (!call) return;
            this.pending.delete(msg.id);
            if (msg.type === 'result') call.resolve(msg.value);
            else call.reject(deserializeError(msg.error));
          }
        }
      });
      worker.on('error', (err) => (crash = err));
      worker.on('exit', (code) => {
        if (worker !== this.worker) return;
        if (!loaded && !this.loadError) this.loadError = crash ?? new EngineError(500, 'engine_failed', `The model runtime thread exited (code ${code}) while loading ${this.config.manifestPath}.`);
        resolve();
        if (this.closing) return;
        const why = crash ? `: ${crash.message}` : ` with code ${code}`;
        for (const [id, call] of this.pending) {
          this.pending.delete(id);
          call.reject(new EngineError(503, 'engine_restarted', `The model runtime stopped mid-request${why}; it is being restarted. Send the request again.`));
        }
        if (loaded) {
          // Models that loaded once load again; a thread that never loaded stays down, and its
          // error is what every later call reports.
          this.restarts++;
          this.start();
        }
      });
    });
  }

  async call<K extends CallName>(op: K, args: EngineCalls[K]['args'], signal?: AbortSignal): Promise<EngineCalls[K]['result']> {
    if (this.closing) throw new EngineError(503, 'shutting_down', 'The worker is shutting down; send the request to another worker.');
    this.inFlight++;
    try {
      await this.ready;
      if (this.loadError) throw new EngineError(503, 'engine_unavailable', `The model runtime could not be restarted: ${this.loadError.message}`);
      signal?.throwIfAborted();
      return await this.send(op, args, signal);
    } finally {
      this.inFlight--;
    }
  }

  private send<K extends CallName>(op: K, args: EngineCalls[K]['args'], signal?: AbortSignal): Promise<EngineCalls[K]['result']> {
    const id = this.nextId++;
    const worker = this.worker;
    return new Promise((resolve, reject) => {
      const onAbort = () => worker.postMessage({ type: 'abort', id } satisfies ToHost);
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      this.pending.set(id, {
        resolve: (v) => {
          done();
          resolve(v as EngineCalls[K]['result']);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      worker.postMessage({ type: 'call', id, op, args } satisfies ToHost);
    });
  }

  /** Lets the calls in the thread finish, releases the models, and ends the thread. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.ready;
    if (!this.loadError) {
      try {
        await this.send('close', []);
      } catch {
        // A thread that is already gone has nothing left to release.
      }
    }
    await this.worker.terminate();
  }
}

export interface ThreadedEngineOptions extends EngineOptions {
  /**
   * Engine threads, each with its own copy of the models (default: defaultEngineThreads). The
   * work queue runs this many batches side by side.
   */
  threads?: number;
  /** Where a thread after the first reports that it loaded, or could not. */
  log?: Logger;
}

/**
 * The default number of engine threads. On a GPU, one: the GPU batches, and a second copy of a
 * 7B model would not fit beside the first. On a CPU, one per core up to 2. ONNX Runtime's own
 * intra-op threads slow models this small down, while a second copy of the models runs a
 * second batch beside the first. Each thread costs its own copy of the models and a V8
 * isolate, and more than 2 is untested, so more is CONFAB_ENGINE_THREADS' to ask for.
 */
export function defaultEngineThreads(provider: ExecutionProvider | undefined): number {
  if (provider === 'cuda') return 1;
  return Math.max(1, Math.min(2, availableParallelism()));
}

export class ThreadedEngine implements Engine {
  /** The threads that have loaded: the only ones calls go to. */
  private readonly replicas: EngineThread[];
  /** Threads after the first, while they load. */
  private readonly loading = new Set<EngineThread>();
  private readonly settled: Promise<void>;
  private readonly concurrencyListeners: Array<() => void> = [];
  private closed = false;

  private constructor(
    first: EngineThread,
    config: HostConfig,
    /** The threads asked for, loaded or not. */
    readonly planned: number,
    private readonly log: Logger,
  ) {
    this.replicas = [first];
    this.settled = Promise.all(Array.from({ length: planned - 1 }, () => this.addThread(config))).then(() => undefined);
  }

  static async create(manifestPath: string, opts: ThreadedEngineOptions = {}): Promise<ThreadedEngine> {
    const config: HostConfig = { manifestPath, executionProvider: opts.executionProvider, version: opts.version };
    const count = opts.threads ?? defaultEngineThreads(opts.executionProvider ?? loadManifest(manifestPath).executionProvider);
    if (!Number.isInteger(count) || count < 1) throw new EngineError(500, 'bad_threads', `Engine threads must be a whole number of at least 1; got ${count}.`);
    const first = new EngineThread(config);
    await first.ready;
    if (first.loadError) {
      await first.close();
      throw first.loadError;
    }
    return new ThreadedEngine(first, config, count, opts.log ?? silentLogger);
  }

  private async addThread(config: HostConfig): Promise<void> {
    const thread = new EngineThread(config);
    this.loading.add(thread);
    await thread.ready;
    this.loading.delete(thread);
    // close() has closed it, or is closing it.
    if (this.closed) return;
    if (thread.loadError) {
      // The first copy of the same models loaded, so this is the machine (memory, most likely):
      // fewer batches at once beats a worker that stops.
      this.log.warn(`An engine thread could not load the models (${thread.loadError.message}); serving on ${this.replicas.length} of ${this.planned} engine threads.`);
      await thread.close();
      return;
    }
    this.replicas.push(thread);
    this.log.info(`Engine thread ${this.replicas.length} of ${this.planned} loaded.`);
    for (const listener of this.concurrencyListeners) listener();
  }

  onConcurrencyChange(listener: () => void): void {
    this.concurrencyListeners.push(listener);
  }

  /** Resolves when every thread after the first has loaded or failed to (at once with one thread). */
  whenAllLoaded(): Promise<void> {
    return this.settled;
  }

  /** Calls the engine runs at once: one per loaded thread, so it grows as the others load. */
  get concurrency(): number {
    return this.replicas.length;
  }

  /** The loaded engine threads, for diagnostics (event-loop utilization, resource use) and fault tests. */
  get threads(): Worker[] {
    return this.replicas.map((r) => r.thread);
  }

  /** Threads started again after one died. */
  get restarts(): number {
    return this.replicas.reduce((n, r) => n + r.restarts, 0);
  }

  /** The least busy thread; ties go to the first, so a lone caller always lands on the same one. */
  private pick(): EngineThread {
    let best = this.replicas[0];
    for (const r of this.replicas) if (r.inFlight < best.inFlight) best = r;
    return best;
  }

  capabilities(): Capabilities {
    return this.replicas[0].capabilities;
  }

  async analyzeBatch(requests: EngineRequest[], signal?: AbortSignal): Promise<Array<AnalyzeResponse | EngineError>> {
    const results = await this.pick().call('analyzeBatch', [requests], signal);
    return results.map((r) => (isSerializedError(r) ? (deserializeError(r) as EngineError) : r));
  }

  describe(vectors: Float32Array[], sampling: SamplingOptions, signal?: AbortSignal): Promise<Explanation[][]> {
    return this.pick().call('describe', [vectors, sampling], signal);
  }

  score(items: Array<{ text: string; vector: Float32Array }>): Promise<ArScore[]> {
    return this.pick().call('score', [items]);
  }

  topkByToken(prompt: string, topK: number, ignoreBos: boolean): Promise<TopkByTokenResult> {
    return this.pick().call('topkByToken', [prompt, topK, ignoreBos]);
  }

  countTokens(prompt: string): Promise<number> {
    return this.pick().call('countTokens', [prompt]);
  }

  async close(): Promise<void> {
    this.closed = true;
    // Threads still loading are closed too (each once its load has ended), so none outlives the engine.
    await Promise.all([...this.replicas, ...this.loading].map((r) => r.close()));
  }
}

export function createThreadedEngine(manifestPath: string, opts: ThreadedEngineOptions = {}): Promise<ThreadedEngine> {
  return ThreadedEngine.create(manifestPath, opts);
}
