/**
 * The engine thread: loads the runtime (`createEngine`) and runs the calls the event loop sends.
 * onnxruntime-node's `run()` is synchronous on the calling thread (its promise only defers the
 * call by a setImmediate), so a model on the worker's own event loop would stop HTTP, health
 * checks and abort detection for every forward pass, and with the embedded worker the bot too.
 * Here it stops only this thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { EngineError, type Engine, type EngineRequest } from '../engine';
import { createEngine } from '../runtime/engine';
import { loadManifest } from '../runtime/manifest';
import type { FromHost, HostConfig, SerializedError, ToHost } from './protocol';

export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) {
    const out: SerializedError = { __error: true, name: err.name, message: err.message, stack: err.stack };
    if (err instanceof EngineError) {
      out.status = err.status;
      out.code = err.code;
    }
    return out;
  }
  return { __error: true, name: 'Error', message: String(err) };
}

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('host.ts runs only as the engine thread (see engine-thread.ts).');
  const send = (msg: FromHost) => port.postMessage(msg);
  const config = workerData as HostConfig;

  let engine: Engine;
  try {
    // A manifest may name an HTTP-backed NLA (sglang, vllm); the runtime registers only `onnx`.
    // They (and the openai package) load only when named: every thread pays for what it imports.
    const nla = loadManifest(config.manifestPath).nla;
    if (nla && (nla.av.backend !== 'onnx' || nla.ar.backend !== 'onnx')) (await import('../remote')).registerRemoteBackends();
    engine = await createEngine(config.manifestPath, { executionProvider: config.executionProvider, version: config.version });
  } catch (err) {
    send({ type: 'failed', error: serializeError(err) });
    return;
  }

  const aborts = new Map<number, AbortController>();
  const inFlight = new Set<Promise<unknown>>();
  port.on('message', (msg: ToHost) => {
    if (msg.type === 'abort') {
      aborts.get(msg.id)?.abort();
      return;
    }
    const controller = new AbortController();
    aborts.set(msg.id, controller);
    // ORT yields between graph runs, so a close that arrives mid-generation would release the
    // sessions under it: close waits for the calls already running.
    const before = msg.op === 'close' ? Promise.allSettled([...inFlight]) : Promise.resolve();
    const call = before.then(() => run(engine, msg, controller.signal));
    inFlight.add(call);
    void call
      .then((value) => send({ type: 'result', id: msg.id, value }))
      .catch((err: unknown) => send({ type: 'error', id: msg.id, error: serializeError(err) }))
      .finally(() => {
        inFlight.delete(call);
        aborts.delete(msg.id);
        if (msg.op === 'close') port.close();
      });
  });
  send({ type: 'ready', capabilities: engine.capabilities() });
}

async function run(engine: Engine, msg: Extract<ToHost, { type: 'call' }>, signal: AbortSignal): Promise<unknown> {
  const a = msg.args as never[];
  switch (msg.op) {
    case 'analyzeBatch': {
      const results = await engine.analyzeBatch(a[0] as EngineRequest[], signal);
      return results.map((r) => (r instanceof Error ? serializeError(r) : r));
    }
    case 'describe':
      return engine.describe(a[0], a[1], signal);
    case 'score':
      return engine.score(a[0]);
    case 'topkByToken':
      return engine.topkByToken(a[0], a[1], a[2]);
    case 'countTokens':
      return engine.countTokens(a[0]);
    case 'close':
      return engine.close();
  }
}

await main();
