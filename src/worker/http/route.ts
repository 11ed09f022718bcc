/**
 * What one endpoint file exports: its method, path, whether the secret guards it, and a
 * handler that returns the JSON body of a 200 (or throws an HttpError/EngineError); a handler
 * that streams writes `res` itself, and what it returns is then ignored.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Engine } from '../engine';
import type { ChatTokens } from './chat';
import type { WorkQueue } from './work-queue';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  engine: Engine;
  queue: WorkQueue;
  /** The parsed JSON body (size-capped). */
  body(): Promise<unknown>;
  /** Aborts when the client closes the connection before the response is written. */
  signal: AbortSignal;
  /** What the server was configured with, for the routes that advertise or use it. */
  settings: RouteSettings;
}

export interface RouteSettings {
  /** Requests that may wait beyond the running batch before a 429. */
  queueLimit: number;
  /** The subject model's Jinja chat template, when its tokenizer has one. */
  chatTemplate?: string;
  /** The special tokens' strings that template prints. */
  chatTokens?: ChatTokens;
}

/**
 * `confab`: errors as `{error, detail}` and 401 for any bad secret. `nla`: Neuronpedia's NLA
 * server, with FastAPI's `{detail}` errors, 401 for a missing secret and 403 for a wrong one.
 * `inference`: Neuronpedia's inference server, FastAPI errors but 401 for both.
 */
export type RouteStyle = 'confab' | 'nla' | 'inference';

export interface Route {
  method: 'GET' | 'POST';
  path: string;
  /** False only for /health, which load balancers probe without credentials. */
  auth: boolean;
  /** Unset: `confab`. */
  style?: RouteStyle;
  handle(ctx: RouteContext): Promise<unknown>;
}
