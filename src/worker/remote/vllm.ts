/**
 * AV backend `vllm`: an OpenAI-compatible vLLM server's `/v1/completions` with
 * `prompt_embeds`, through the `openai` package.
 *
 * - The server must run with `--enable-prompt-embeds`.
 * - `prompt_embeds` is the base64 of a `torch.save` archive of the [T, d] float32 tensor
 *   (`torch-archive.ts`). The openai package has no such field; it sends extra body keys
 *   unchanged, so the request object simply carries one.
 * - `prompt` is null: vLLM takes any other value as a second, text prompt, which fails on a
 *   tokenizer without BOS ("The decoder prompt cannot be empty") and wastes n completions on
 *   one with BOS.
 * - vLLM refuses n > 1 at temperature 0, and greedy samples are identical anyway: each is its
 *   own request then. It refuses a temperature above 2, so that is refused here before sending.
 * - 503 (its request queue is full) and 429 mean busy: waited out within `timeout_ms`.
 * - vLLM applies no chat template to embeddings: the engine sends the fully templated prompt.
 */
import OpenAI from 'openai';
import type { CompletionCreateParamsNonStreaming } from 'openai/resources/completions';
import { z } from 'zod';
import { EngineError } from '../engine';
import { AV_MAX_TEMPERATURE, type AvBackend, type BuiltPrompt, type SamplingOptions } from '../runtime/av-backend';
import { BackendBusyError, mapLimit, parseRetryAfter, whileBusy } from './http-json';
import { checkPrompt } from './sglang';
import { torchSaveFloat32 } from './torch-archive';

export const VllmOptionsSchema = z.object({
  /** The server, with or without the trailing /v1. */
  url: z.string().regex(/^https?:\/\/\S+$/, 'an http(s):// URL of the vLLM server'),
  /** The served model name (`vllm serve NAME`). */
  model: z.string().min(1),
  api_key: z.string().default('EMPTY'),
  timeout_ms: z.number().int().positive().default(120_000),
  concurrency: z.number().int().min(1).max(64).default(8),
  stop: z.array(z.string()).default(['</explanation>']),
});
export type VllmOptions = z.input<typeof VllmOptionsSchema>;

/** vLLM's extensions to the completions request; `prompt` may be null beside `prompt_embeds`. */
type VllmCompletionParams = Omit<CompletionCreateParamsNonStreaming, 'prompt'> & {
  prompt: null;
  prompt_embeds: string;
  include_stop_str_in_output: boolean;
};

export function createVllmAvBackend(options: VllmOptions): AvBackend {
  const config = VllmOptionsSchema.parse(options);
  const baseURL = config.url.replace(/\/+$/, '').replace(/(\/v1)?$/, '/v1');
  // Retries belong to the worker's client, one level up; here a failure surfaces at once.
  const client = new OpenAI({ baseURL, apiKey: config.api_key, timeout: config.timeout_ms, maxRetries: 0 });

  async function generateOne(prompt: BuiltPrompt, sampling: SamplingOptions, signal?: AbortSignal): Promise<string[]> {
    checkPrompt(prompt);
    const maxTemperature = AV_MAX_TEMPERATURE.vllm;
    if (sampling.temperature > maxTemperature) {
      throw new EngineError(400, 'bad_temperature', `Temperature ${sampling.temperature} is above ${maxTemperature}, the most the vLLM AV backend accepts.`);
    }
    const embeds = torchSaveFloat32(prompt.embeds, [prompt.T, prompt.d]).toString('base64');
    if (sampling.temperature > 0 || sampling.samples === 1) return complete(embeds, sampling, sampling.samples, signal);
    const texts: string[] = [];
    for (let s = 0; s < sampling.samples; s++) texts.push(...(await complete(embeds, sampling, 1, signal)));
    return texts;
  }

  function complete(embeds: string, sampling: SamplingOptions, n: number, signal?: AbortSignal): Promise<string[]> {
    return whileBusy(() => completeOnce(embeds, sampling, n, signal), { maxWaitMs: config.timeout_ms, signal });
  }

  async function completeOnce(embeds: string, sampling: SamplingOptions, n: number, signal?: AbortSignal): Promise<string[]> {
    const params: VllmCompletionParams = {
      model: config.model,
      prompt: null,
      prompt_embeds: embeds,
      max_tokens: sampling.maxNewTokens,
      temperature: sampling.temperature,
      n,
      stop: config.stop,
      // Keep `</explanation>` so the engine's parser sees a closed tag.
      include_stop_str_in_output: true,
      ...(sampling.seed !== undefined ? { seed: sampling.seed } : {}),
    };
    let completion: OpenAI.Completions.Completion;
    try {
      completion = await client.completions.create(params as unknown as CompletionCreateParamsNonStreaming, { signal });
    } catch (err) {
      if (signal?.aborted) throw err;
      if (err instanceof OpenAI.APIConnectionTimeoutError) {
        throw new EngineError(504, 'backend_timeout', `vLLM at ${baseURL} did not answer within ${config.timeout_ms} ms.`);
      }
      if (err instanceof OpenAI.APIConnectionError) throw new EngineError(503, 'backend_unreachable', `vLLM at ${baseURL} is unreachable (${err.message}).`);
      if (err instanceof OpenAI.APIError) {
        const message = `vLLM at ${baseURL} answered ${err.status}: ${err.message}`;
        if (err.status === 429 || err.status === 503) throw new BackendBusyError(`${message} (busy)`, parseRetryAfter(err.headers?.get('retry-after')));
        throw new EngineError(502, 'backend_failed', message);
      }
      throw err;
    }
    const choices = [...completion.choices].sort((a, b) => a.index - b.index);
    if (choices.length !== n) {
      throw new EngineError(502, 'backend_bad_response', `vLLM at ${baseURL} returned ${choices.length} choices; ${n} were asked for.`);
    }
    return choices.map((c) => c.text);
  }

  return {
    name: 'vllm',
    generate: (prompts, sampling, signal) => mapLimit(prompts, config.concurrency, (prompt) => generateOne(prompt, sampling, signal)),
    async close() {},
  };
}
