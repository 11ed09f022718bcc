/**
 * What one endpoint file exports: its method, path, whether the secret guards it, and a
 * handler that returns the JSON body of a 200 (or throws an HttpError/EngineError).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Engine } from '../engine';
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
}

export interface Route {
  method: 'GET' | 'POST';
  path: string;
  /** False only for /health, which load balancers probe without credentials. */
  auth: boolean;
  handle(ctx: RouteContext): Promise<unknown>;
}
