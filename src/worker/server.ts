/**
 * The inference worker's HTTP server (node:http, no framework): routing, auth, body limits,
 * errors as JSON, and the bounded batching queue in front of the engine.
 *
 * `createWorkerServer` serves any Engine; `runWorker` is what `confab worker` calls: it loads
 * the models named by a manifest on the engine thread (`thread/engine-thread.ts`) and serves them.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from '../log';
import type { Engine } from './engine';
import type { ExecutionProvider } from './runtime/execution';
import { requireSecret } from './http/auth';
import { readJsonBody } from './http/body';
import { loadChatTemplate, loadChatTokens, type ChatTokens } from './http/chat';
import { ClientGoneError, HttpError, sendError, sendJson } from './http/errors';
import { toFastApiError } from './http/fastapi';
import type { Route, RouteSettings } from './http/route';
import { ROUTES } from './http/routes';
import { WorkQueue, type QueueStats } from './http/work-queue';
import { createThreadedEngine } from './thread/engine-thread';

export interface WorkerServerOptions {
  engine: Engine;
  /** When set, every route except /health requires `X-SECRET-KEY` with this value. */
  secret?: string;
  /** Loopback unless told otherwise: a worker without a secret must not face a network. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Largest accepted request body. A 5,376-d vector as JSON is about 120 kB. */
  maxBodyBytes?: number;
  /**
   * Request bodies being read at once, in bytes; a request that would pass it gets 429 before
   * its body is read, so a flood of large uploads cannot hold unbounded memory. Default 64 MiB.
   */
  maxBodyBytesInFlight?: number;
  /** Requests that may wait beyond the running batch; more get 429. */
  queueLimit?: number;
  /**
   * How long an idle worker holds a request for others to share its batch. 0 (the default)
   * still waits one event-loop turn; requests that arrive while a batch runs are batched
   * regardless, so a lone request pays nothing for company that may not come.
   */
  batchWindowMs?: number;
  /** Most analyze requests in one engine batch. */
  maxBatch?: number;
  /** After a batch of n > 1, how long the next may wait to gather n again (see WorkQueue). */
  regroupMs?: number;
  /**
   * The longest a request may wait for its batch: more estimated work ahead is refused with 429
   * and a Retry-After of the drain time. Keep it well under the clients' timeout.
   */
  maxQueueWaitMs?: number;
  /** Where server-side failures are logged (default: a logger on stderr). */
  log?: Logger;
  /** The subject model's Jinja chat template, for Neuronpedia's `messages` input. */
  chatTemplate?: string;
  /** The special tokens' strings (`bos_token`, `eos_token`…) that template prints. */
  chatTokens?: ChatTokens;
}

export interface WorkerServer {
  /** Base URL, e.g. http://127.0.0.1:8477 (no trailing slash). */
  url: string;
  server: Server;
  queueStats(): QueueStats;
  /** Stops accepting, rejects waiting requests with 503, and closes connections. Does not close the engine. */
  close(): Promise<void>;
  /**
   * The graceful close: stops accepting, rejects waiting requests with 503, lets the running
   * batches answer, then closes connections. A close() meanwhile hurries it (the running
   * batches lose their clients and stop at their next step); it resolves when they have.
   */
  drain(): Promise<void>;
}

export const WORKER_DEFAULTS = {
  host: '127.0.0.1',
  port: 8477,
  maxBodyBytes: 1024 * 1024,
  maxBodyBytesInFlight: 64 * 1024 * 1024,
  queueLimit: 64,
  batchWindowMs: 0,
  maxBatch: 16,
  regroupMs: 25,
  maxQueueWaitMs: 10_000,
} as const;

export async function createWorkerServer(options: WorkerServerOptions): Promise<WorkerServer> {
  const { engine, secret } = options;
  const host = options.host ?? WORKER_DEFAULTS.host;
  const maxBodyBytes = options.maxBodyBytes ?? WORKER_DEFAULTS.maxBodyBytes;
  const log = options.log ?? createLogger();
  const bodyBudget = options.maxBodyBytesInFlight ?? WORKER_DEFAULTS.maxBodyBytesInFlight;
  let bodyBytesInFlight = 0;
  /** Reads a body within the budget; a chunked body reserves the whole cap, since its size is unknown. */
  async function readBody(req: IncomingMessage): Promise<unknown> {
    const declared = Number(req.headers['content-length']);
    const reserve = Number.isFinite(declared) ? Math.min(declared, maxBodyBytes + 1) : maxBodyBytes;
    if (bodyBytesInFlight + reserve > bodyBudget && bodyBytesInFlight > 0) {
      throw new HttpError(429, 'busy_reading', 'The worker is reading too many request bodies at once; retry in 1 s or use another worker.', {
        'retry-after': '1',
        connection: 'close',
      });
    }
    bodyBytesInFlight += reserve;
    try {
      return await readJsonBody(req, maxBodyBytes);
    } finally {
      bodyBytesInFlight -= reserve;
    }
  }
  const queue = new WorkQueue(engine, {
    queueLimit: options.queueLimit ?? WORKER_DEFAULTS.queueLimit,
    batchWindowMs: options.batchWindowMs ?? WORKER_DEFAULTS.batchWindowMs,
    maxBatch: options.maxBatch ?? WORKER_DEFAULTS.maxBatch,
    regroupMs: options.regroupMs ?? WORKER_DEFAULTS.regroupMs,
    maxQueueWaitMs: options.maxQueueWaitMs ?? WORKER_DEFAULTS.maxQueueWaitMs,
  });
  const settings: RouteSettings = { queueLimit: options.queueLimit ?? WORKER_DEFAULTS.queueLimit, chatTemplate: options.chatTemplate, chatTokens: options.chatTokens };
  const byPath = new Map<string, Route[]>();
  for (const route of ROUTES) byPath.set(route.path, [...(byPath.get(route.path) ?? []), route]);

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // Last line of defence: a bug in a handler answers 500 and never takes the process down.
      try {
        sendError(res, err, log);
      } catch {
        res.destroy();
      }
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0].replace(/\/+$/, '') || '/';
    const candidates = byPath.get(path);
    let route: Route | undefined;
    try {
      if (!candidates) throw new HttpError(404, 'not_found', `No route ${path}. Routes: ${[...byPath.keys()].join(', ')}.`);
      route = candidates.find((r) => r.method === req.method);
      if (!route) {
        const allowed = candidates.map((r) => r.method).join(', ');
        throw new HttpError(405, 'method_not_allowed', `${req.method} is not allowed on ${path}; use ${allowed}.`, { allow: allowed });
      }
      if (route.auth) requireSecret(req, secret, route.style === 'nla' ? 403 : 401);

      const controller = new AbortController();
      // 'close' on the response fires both on normal completion and when the client drops;
      // only the latter should cancel queued work.
      res.on('close', () => {
        if (!res.writableFinished) controller.abort();
      });
      const result = await route.handle({
        req,
        res,
        engine,
        queue,
        body: () => readBody(req),
        signal: controller.signal,
        settings,
      });
      sendJson(res, 200, result);
    } catch (err) {
      if (err instanceof ClientGoneError) {
        res.destroy();
        return;
      }
      // The inference server's own 401 is `{error}`, which Confab's shape already carries.
      const fastApi = route?.style === 'nla' || (route?.style === 'inference' && !(err instanceof HttpError && err.status === 401));
      sendError(res, fastApi ? toFastApiError(err) : err, log);
    }
  }

  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // Malformed HTTP (bad request line, oversized headers): answer if the socket still can.
    if (socket.writable && err.code !== 'ECONNRESET') {
      const body = JSON.stringify({ error: 'bad_http', detail: `Malformed HTTP request (${err.code ?? err.message}).` });
      socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    } else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? WORKER_DEFAULTS.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${shownHost}:${address.port}`;

  return {
    url,
    server,
    queueStats: () => queue.stats(),
    async drain() {
      queue.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await queue.idle();
      // The last answers are written; idle keep-alive sockets would otherwise hold close open.
      await new Promise((resolve) => setImmediate(resolve));
      server.closeIdleConnections();
      const straggler = setTimeout(() => server.closeAllConnections(), 2_000);
      await closed;
      clearTimeout(straggler);
    },
    async close() {
      queue.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

export interface RunWorkerOptions {
  port: number;
  host: string;
  /** The model manifest (config.worker.modelsPath; the reference stack by default). */
  modelsPath: string;
  secret?: string;
  /** Overrides the manifest's execution_provider. */
  executionProvider?: ExecutionProvider;
  /** Engine threads (copies of the models); unset: defaultEngineThreads. */
  engineThreads?: number;
  /** Queue and batching knobs; the defaults suit both the reference stack and a GPU host. */
  server?: Partial<Omit<WorkerServerOptions, 'engine' | 'secret' | 'host' | 'port' | 'log'>>;
  log?: Logger;
}

export interface RunningWorker {
  url: string;
  /** The engine threads asked for; those after the first may still be loading. */
  engineThreads: number;
  /**
   * Stops the server, lets the running batches answer, then releases the models; the engine
   * threads end only after their runs have returned.
   */
  close(): Promise<void>;
  /** During close(): stop the running batches at their next step instead of letting them finish. */
  hurry(): void;
}

/** What `confab worker` runs: the models on engine threads, served over HTTP. */
export async function runWorker(options: RunWorkerOptions): Promise<RunningWorker> {
  // The models run on their own thread, so this event loop keeps serving while they compute.
  const engine = await createThreadedEngine(options.modelsPath, { executionProvider: options.executionProvider, threads: options.engineThreads, log: options.log });
  let server: WorkerServer;
  try {
    const chatTemplate = loadChatTemplate(options.modelsPath);
    const chatTokens = loadChatTokens(options.modelsPath);
    server = await createWorkerServer({ ...options.server, engine, secret: options.secret, host: options.host, port: options.port, log: options.log, chatTemplate, chatTokens });
  } catch (err) {
    await engine.close();
    throw err;
  }
  return {
    url: server.url,
    engineThreads: engine.planned,
    async close() {
      await server.drain();
      await engine.close();
    },
    hurry() {
      void server.close();
    },
  };
}
