/**
 * The embedded worker: `confab start` without `WORKER_URLS` runs the worker in-process on a
 * loopback port, and the bot reaches it through the ordinary inference client. One code path
 * for the laptop default and a fleet of GPU workers; the only difference is who owns the
 * server. It lives in the CLI because only the entry point may hold both sides: the inference
 * client knows a worker only by its URL and secret.
 */
import { randomBytes } from 'node:crypto';
import { createInferenceClient, type InferenceClient } from '../inference';
import type { Engine } from '../worker/engine';
import { createWorkerServer, type WorkerServerOptions } from '../worker/server';

export interface EmbeddedInferenceOptions extends Partial<Omit<WorkerServerOptions, 'engine' | 'host' | 'port'>> {
  engine: Engine;
  /** Close the engine when the client closes (true when the caller handed it over). */
  ownsEngine?: boolean;
  timeoutMs?: number;
}

export interface EmbeddedInferenceClient extends InferenceClient {
  /** The loopback URL of the in-process worker (useful for `curl` while debugging). */
  url: string;
  /** During close(): stop the running batches at their next step instead of letting them finish. */
  hurry(): void;
}

export async function createEmbeddedInferenceClient(options: EmbeddedInferenceOptions): Promise<EmbeddedInferenceClient> {
  const { engine, ownsEngine = true, timeoutMs, ...serverOptions } = options;
  // Other local users can reach a loopback port; a per-process secret keeps them out.
  const secret = serverOptions.secret ?? randomBytes(24).toString('base64url');
  const server = await createWorkerServer({ ...serverOptions, engine, secret, host: '127.0.0.1', port: 0 });
  // One worker, in-process: failover has nowhere to go, so no retries; a crash is the process's.
  const client = createInferenceClient({ urls: [server.url], secret, timeoutMs, retries: 0 });
  return {
    ...client,
    url: server.url,
    hurry() {
      void server.close();
    },
    async close() {
      await client.close();
      await server.close();
      if (ownsEngine) await engine.close();
    },
  };
}
