/**
 * Errors at the worker's HTTP edge, and the one place a response body is written.
 *
 * Every error leaves as JSON `{error, detail}` (ErrorBodySchema): `error` is a stable machine
 * code the client branches on, `detail` says what was wrong and what is allowed.
 */
import type { ServerResponse } from 'node:http';
import type { z } from 'zod';
import type { Logger } from '../../log';
import { EngineError } from '../engine';
import type { ErrorBody } from '../../protocol/errors';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    /** A body in another route family's shape (FastAPI's `{detail}` on the Neuronpedia routes). */
    readonly body?: unknown,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** The client went away before its work started; nothing is written back. */
export class ClientGoneError extends Error {
  constructor() {
    super('The client closed the connection before its request was processed.');
    this.name = 'ClientGoneError';
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

/**
 * Map anything thrown by a route to a status. Unknown errors become 500 with a generic detail
 * (the message goes to the log, not to the client, because it may carry paths or internals).
 */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof EngineError) return new HttpError(err.status, err.code, err.message);
  return new HttpError(500, 'internal_error', 'The worker failed while processing this request; see the worker log.');
}

/** Answers `err` as JSON; a 5xx also goes to `log`, with the stack the client is not shown. */
export function sendError(res: ServerResponse, err: unknown, log: Logger): void {
  const http = toHttpError(err);
  if (http.status >= 500) log.error({ err, code: http.code, status: http.status }, `worker: ${http.code}`);
  const body: ErrorBody = { error: http.code, detail: http.message };
  sendJson(res, http.status, http.body ?? body, http.headers);
}

/** "positions[0]: expected an integer; top_k: too big" — the field is always named. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const field = issue.path.length ? formatPath(issue.path) : 'body';
      if (issue.code === 'unrecognized_keys') {
        return `${field}: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
      }
      return `${field}: ${issue.message}`;
    })
    .join('; ');
}

function formatPath(path: PropertyKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out ? `.${String(key)}` : String(key);
  return out;
}

/** Parse `body` with `schema` or throw a 400 naming the fields. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new HttpError(400, 'invalid_request', describeZodError(parsed.error));
  return parsed.data;
}
