/**
 * AR backend `neuronpedia`: a Neuronpedia-compatible NLA server's `POST /score`
 * (`{description, activation}` → `{mse, cosine_similarity}`), with the `X-SECRET-KEY` header.
 *
 * That server refuses a /score with 429 as soon as its reconstructor slots are full, so this
 * backend asks its `GET /` for `reconstructor_max_concurrent` once and never has more calls in
 * flight than that (nor than `concurrency`, when the manifest sets it). A 429 that still comes
 * (another client sharing the server) is retried after Retry-After or a doubling backoff, within
 * `timeout_ms`: a busy server slows an analysis down rather than failing it.
 *
 * Only the cosine is taken: mse_nrm and fve_nrm follow from it in the engine, the same way
 * for every AR backend, so a server whose `mse` uses another scale cannot skew the scores.
 */
import { z } from 'zod';
import { EngineError } from '../engine';
import type { ArBackend } from '../runtime/av-backend';
import { mapLimit, postJson, whileBusy } from './http-json';

export const NeuronpediaArOptionsSchema = z.object({
  url: z.string().regex(/^https?:\/\/\S+$/, 'an http(s):// URL of the NLA server'),
  secret: z.string().optional(),
  timeout_ms: z.number().int().positive().default(60_000),
  /** A cap below the server's own slot count; unset: the server's count. */
  concurrency: z.number().int().min(1).max(64).optional(),
});
export type NeuronpediaArOptions = z.input<typeof NeuronpediaArOptionsSchema>;

/** The server's default NLA_RECONSTRUCTOR_MAX_CONCURRENT, for a server whose GET / says nothing. */
const DEFAULT_SLOTS = 4;

const ScoreAnswerSchema = z.object({ cosine_similarity: z.number(), mse: z.number().optional() }).loose();
const HealthSchema = z.object({ reconstructor_max_concurrent: z.number().int().min(1) }).loose();

/** At most `limit` holders at once, shared by every call of one backend. */
class Slots {
  private used = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly limit: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.used >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.used++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.used--;
    }
  }
}

export function createNeuronpediaArBackend(options: NeuronpediaArOptions): ArBackend {
  const config = NeuronpediaArOptionsSchema.parse(options);
  const base = config.url.replace(/\/+$/, '');
  const endpoint = `${base}/score`;
  const headers: Record<string, string> = config.secret ? { 'x-secret-key': config.secret } : {};
  let slots: Promise<Slots> | undefined;

  async function serverSlots(): Promise<number> {
    try {
      const response = await fetch(`${base}/`, { headers, signal: AbortSignal.timeout(Math.min(config.timeout_ms, 5_000)) });
      const parsed = HealthSchema.safeParse(response.ok ? await response.json() : undefined);
      return parsed.success ? parsed.data.reconstructor_max_concurrent : DEFAULT_SLOTS;
    } catch {
      return DEFAULT_SLOTS;
    }
  }

  return {
    name: 'neuronpedia',
    async cosines(items, signal) {
      slots ??= serverSlots().then((n) => new Slots(Math.min(n, config.concurrency ?? n)));
      const gate = await slots;
      return mapLimit(items, items.length, (item) =>
        gate.run(() =>
          whileBusy(
            async () => {
              const answer = await postJson(
                endpoint,
                { description: item.text, activation: Array.from(item.vector) },
                // 503 from this server means "no reconstructor loaded", not busy.
                { headers, timeoutMs: config.timeout_ms, signal, service: 'NLA server /score', busyStatuses: [429] },
              );
              const parsed = ScoreAnswerSchema.safeParse(answer);
              if (!parsed.success) throw new EngineError(502, 'backend_bad_response', `NLA server at ${endpoint} answered without cosine_similarity.`);
              return parsed.data.cosine_similarity;
            },
            { maxWaitMs: config.timeout_ms, signal },
          ),
        ),
      );
    },
    async close() {},
  };
}
