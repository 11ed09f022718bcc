/**
 * The one way the bot reaches inference workers.
 *
 * `createInferenceClient` talks HTTP to a pool of Confab workers: those of `WORKER_URLS`, or
 * the embedded one that `confab start` serves on loopback, so the embedded default goes
 * through the very same wire format, auth and queue as a remote GPU worker;
 * `createNeuronpediaInferenceClient` (neuronpedia.ts) uses a Neuronpedia NLA server plus
 * inference server instead of a Confab worker.
 */
import {
  AnalyzeRequestSchema,
  AnalyzeResponseSchema,
  CapabilitiesSchema,
  TokenizeResponseSchema,
  type AnalyzeRequestInput,
  type AnalyzeResponse,
  type Capabilities,
} from '../protocol/analyze';
import type { Logger } from '../log';
import { WorkerRejectedError } from './errors';
import { WorkerPool, type PoolCapacity, type PoolOptions, type WorkerStatus } from './pool';

export interface InferenceClient {
  /** Analyse a prompt on some worker. Exactly one answer or one error per call. */
  analyze(request: AnalyzeRequestInput, signal?: AbortSignal): Promise<AnalyzeResponse>;
  /** The prompt's token count and the model's context; a 400 prompt_too_long when it does not fit. */
  countTokens?(prompt: string, signal?: AbortSignal): Promise<{ tokens: number; maxTokens: number }>;
  /** The model behind the workers (token limit, layer, d_model, SAE, backends). */
  capabilities(signal?: AbortSignal): Promise<Capabilities>;
  /** Probe the workers now. */
  health(): Promise<WorkerStatus[]>;
  /**
   * Room for more analyze requests on the workers, as their /health reports it; null when
   * they do not report it. Absent for servers that report no capacity at all.
   */
  capacity?(): Promise<PoolCapacity | null>;
  close(): Promise<void>;
}

export interface InferenceClientOptions {
  urls: string[];
  secret?: string;
  /** Per attempt on one worker. */
  timeoutMs?: number;
  /** Extra rounds over the pool after the first. */
  retries?: number;
  /** Probe workers this often in the background (0 or unset: only lazily). */
  healthIntervalMs?: number;
  cooldownMs?: number;
  backoffMs?: number;
  /** Where a misconfigured worker is reported. */
  logger?: Logger;
}

export function createInferenceClient(options: InferenceClientOptions): InferenceClient {
  const pool = new WorkerPool(options satisfies PoolOptions);
  return {
    async analyze(request, signal) {
      // Checked here too, so a malformed request fails fast with the same message the worker gives.
      const parsed = AnalyzeRequestSchema.safeParse(request);
      if (!parsed.success) {
        const detail = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
        throw new WorkerRejectedError('(client)', 400, 'invalid_request', detail);
      }
      return pool.request('POST', '/v1/analyze', parsed.data, AnalyzeResponseSchema, signal);
    },
    async countTokens(prompt, signal) {
      const counted = await pool.request('POST', '/v1/tokenize', { prompt }, TokenizeResponseSchema, signal);
      return { tokens: counted.tokens, maxTokens: counted.max_tokens };
    },
    capabilities(signal) {
      return pool.request('GET', '/v1/capabilities', undefined, CapabilitiesSchema, signal);
    },
    health: () => pool.checkAll(),
    capacity: () => pool.capacity(),
    async close() {
      pool.close();
    },
  };
}
