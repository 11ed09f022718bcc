/**
 * Test helpers: the real engine on the committed reference stack, served by the real worker
 * server, plus small HTTP helpers. One engine per test file (loading ONNX sessions is the
 * slow part); several servers may share it, since a server never closes its engine.
 */
import { Writable } from 'node:stream';
import { REFERENCE_MODELS } from '../../../src/config';
import { createLogger, silentLogger, type Logger } from '../../../src/log';
import { registerRemoteBackends } from '../../../src/worker/remote';
import type { Engine } from '../../../src/worker/engine';
import { createEngine, type RuntimeEngine } from '../../../src/worker/runtime/engine';
import { createWorkerServer, type WorkerServer, type WorkerServerOptions } from '../../../src/worker/server';

export const SECRET = 'test-secret-0123456789';

export async function loadReferenceEngine(): Promise<RuntimeEngine> {
  registerRemoteBackends();
  return createEngine(REFERENCE_MODELS, { executionProvider: 'cpu' });
}

export function serve(engine: Engine, options: Partial<Omit<WorkerServerOptions, 'engine'>> = {}): Promise<WorkerServer> {
  return createWorkerServer({ engine, port: 0, log: silentLogger, ...options });
}

/** A real logger whose JSON records land in `records`, for tests that read what was logged. */
export function recordingLogger(records: Array<Record<string, unknown>>): Logger {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) records.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return createLogger({ level: 'debug', stream, pretty: false });
}

export interface JsonAnswer {
  status: number;
  headers: Headers;
  /** Parsed JSON, or the raw text when the body is not JSON; tests parse it with the route schema. */
  body: unknown;
}

export async function call(url: string, init: { method?: string; body?: unknown; raw?: string; secret?: string | null; headers?: Record<string, string> } = {}): Promise<JsonAnswer> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.secret !== null) headers['x-secret-key'] = init.secret ?? SECRET;
  let body: string | undefined;
  if (init.raw !== undefined) body = init.raw;
  else if (init.body !== undefined) body = JSON.stringify(init.body);
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(url, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep the text: the assertion will show it
  }
  return { status: response.status, headers: response.headers, body: parsed };
}
