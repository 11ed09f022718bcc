/**
 * AR backend `neuronpedia`: a Neuronpedia-compatible NLA server's `POST /score`
 * (`{description, activation}` → `{mse, cosine_similarity}`), with the `X-SECRET-KEY` header.
 *
 * Only the cosine is taken: mse_nrm and fve_nrm follow from it in the engine, the same way
 * for every AR backend, so a server whose `mse` uses another scale cannot skew the scores.
 */
import { z } from 'zod';
import { EngineError } from '../engine';
import type { ArBackend } from '../runtime/av-backend';
import { mapLimit, postJson } from './http-json';

export const NeuronpediaArOptionsSchema = z.object({
  url: z.string().regex(/^https?:\/\/\S+$/, 'an http(s):// URL of the NLA server'),
  secret: z.string().optional(),
  timeout_ms: z.number().int().positive().default(60_000),
  concurrency: z.number().int().min(1).max(64).default(4),
});
export type NeuronpediaArOptions = z.input<typeof NeuronpediaArOptionsSchema>;

const ScoreAnswerSchema = z.object({ cosine_similarity: z.number(), mse: z.number().optional() }).loose();

export function createNeuronpediaArBackend(options: NeuronpediaArOptions): ArBackend {
  const config = NeuronpediaArOptionsSchema.parse(options);
  const endpoint = `${config.url.replace(/\/+$/, '')}/score`;
  const headers: Record<string, string> = config.secret ? { 'x-secret-key': config.secret } : {};
  return {
    name: 'neuronpedia',
    cosines(items, signal) {
      return mapLimit(items, config.concurrency, async (item) => {
        const answer = await postJson(
          endpoint,
          { description: item.text, activation: Array.from(item.vector) },
          { headers, timeoutMs: config.timeout_ms, signal, service: 'NLA server /score' },
        );
        const parsed = ScoreAnswerSchema.safeParse(answer);
        if (!parsed.success) throw new EngineError(502, 'backend_bad_response', `NLA server at ${endpoint} answered without cosine_similarity.`);
        return parsed.data.cosine_similarity;
      });
    },
    async close() {},
  };
}
