/**
 * AV backend `sglang`: an SGLang server's native `POST /generate` with `input_embeds`.
 *
 * - Only `input_embeds` is sent, never `input_ids`: with both, SGLang ignores the embeddings
 *   and the injected activation is silently lost.
 * - SGLang's OpenAI-compatible routes do not take embeddings, hence the native route.
 * - Launch it with `--disable-radix-cache`: the radix cache keys on token ids, and every AV
 *   prompt has the same ids with a different injected row.
 * - The stop string is kept in the output (`no_stop_trim`), so the engine's parser sees the
 *   closing `</explanation>` and does not flag a complete explanation as unparsed.
 * - Seeded samples repeat only on a server launched with `--enable-deterministic-inference`.
 * - 503 (its request queue is full) and 429 mean busy: waited out within `timeout_ms`.
 */
import { z } from 'zod';
import { EngineError } from '../engine';
import type { AvBackend, BuiltPrompt, SamplingOptions } from '../runtime/av-backend';
import { mapLimit, postJson, whileBusy } from './http-json';

export const SglangOptionsSchema = z.object({
  url: z.string().regex(/^https?:\/\/\S+$/, 'an http(s):// URL of the SGLang server'),
  timeout_ms: z.number().int().positive().default(120_000),
  /** Requests in flight at once. SGLang spends ~155 ms validating a JSON float prompt, so more rarely helps. */
  concurrency: z.number().int().min(1).max(64).default(4),
  stop: z.array(z.string()).default(['</explanation>']),
});
export type SglangOptions = z.input<typeof SglangOptionsSchema>;

const GenerateResponseSchema = z.object({ text: z.string() }).loose();

export function createSglangAvBackend(options: SglangOptions): AvBackend {
  const config = SglangOptionsSchema.parse(options);
  const endpoint = `${config.url.replace(/\/+$/, '')}/generate`;

  async function generateOne(prompt: BuiltPrompt, sampling: SamplingOptions, sample: number, signal?: AbortSignal): Promise<string> {
    checkPrompt(prompt);
    const sampling_params: Record<string, unknown> = {
      temperature: sampling.temperature,
      max_new_tokens: sampling.maxNewTokens,
      stop: config.stop,
      no_stop_trim: true,
    };
    // Each sample gets its own seed, so n seeded samples differ from each other yet repeat.
    if (sampling.seed !== undefined) sampling_params.sampling_seed = sampling.seed + sample;
    const body = { input_embeds: toRows(prompt), sampling_params };
    const answer = await whileBusy(() => postJson(endpoint, body, { timeoutMs: config.timeout_ms, signal, service: 'SGLang' }), {
      maxWaitMs: config.timeout_ms,
      signal,
    });
    const parsed = GenerateResponseSchema.safeParse(Array.isArray(answer) ? answer[0] : answer);
    if (!parsed.success) throw new EngineError(502, 'backend_bad_response', `SGLang at ${endpoint} answered without a "text" field.`);
    return parsed.data.text;
  }

  return {
    name: 'sglang',
    async generate(prompts, sampling, signal) {
      const jobs = prompts.flatMap((prompt, p) => Array.from({ length: sampling.samples }, (_, s) => ({ prompt, p, s })));
      const texts = await mapLimit(jobs, config.concurrency, (job) => generateOne(job.prompt, sampling, job.s, signal));
      return prompts.map((_, p) => jobs.flatMap((job, i) => (job.p === p ? [texts[i]] : [])));
    },
    async close() {},
  };
}

/** `[T][d]` nested float lists, the only embedding form SGLang's /generate accepts. */
function toRows(prompt: BuiltPrompt): number[][] {
  const rows: number[][] = new Array(prompt.T);
  for (let t = 0; t < prompt.T; t++) rows[t] = Array.from(prompt.embeds.subarray(t * prompt.d, (t + 1) * prompt.d));
  return rows;
}

export function checkPrompt(prompt: BuiltPrompt): void {
  if (prompt.embeds.length !== prompt.T * prompt.d) {
    throw new EngineError(500, 'bad_prompt', `AV prompt embeds hold ${prompt.embeds.length} floats, not T×d = ${prompt.T}×${prompt.d}.`);
  }
}
