/**
 * A local fake of vLLM's OpenAI-compatible `POST /v1/completions` with `prompt_embeds`, written
 * from vLLM's own request handling (github.com/vllm-project/vllm at commit
 * 00388f6573ccfcffad607b8c9ecdf341a4669ceb: `CompletionRequest`, the renderer's
 * `load_prompt_embeds`, `SamplingParams._verify_args` and `_verify_greedy_sampling`):
 *
 * - a non-null `prompt` beside `prompt_embeds` is a second, text prompt: an empty one fails on a
 *   tokenizer without BOS ("The decoder prompt cannot be empty"), any other adds n completions;
 * - `prompt_embeds` is strict base64 (no line breaks, no url-safe alphabet) of a torch.save
 *   archive of a float tensor, decoded here by the tests' own zip + pickle reader;
 * - n and max_tokens are at least 1, temperature in [0, 2], n > 1 is refused at temperature 0,
 *   and no stop string may be empty;
 * - stop strings end the text and are trimmed unless `include_stop_str_in_output`;
 * - `stream: true` answers server-sent events of text deltas, then `[DONE]`;
 * - a full queue answers 503.
 *
 * The embeddings are then checked as the SGLang fake checks them (wire-check.ts).
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadTorchFloatTensor } from '../../worker/remote/torch-reader';
import { checkAvEmbeds, type AvWireExpectation, type ReceivedPrompt } from '../sglang/wire-check';

export interface FakeVllmCall {
  body: Record<string, unknown>;
  received: ReceivedPrompt;
  authorization?: string;
}

export interface FakeVllmOptions {
  model: string;
  /** The model's raw generation for a sample, before stop strings are applied. */
  reply: (call: FakeVllmCall, sample: number) => string;
  /** Whether the served tokenizer adds BOS (Gemma 3, Llama 3: yes; Qwen2.5: no). Default false. */
  bos?: boolean;
  /** Answer this many requests with 503, as a server whose queue is full. */
  busyFor?: number;
}

export interface FakeVllm {
  url: string;
  calls: FakeVllmCall[];
  /** Requests a real vLLM would refuse, or would serve wrongly (an extra text prompt). */
  violations: string[];
  close(): Promise<void>;
}

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Cut the generation at the first stop string, keeping it only when asked to. */
export function applyStop(text: string, stop: string[], keep: boolean): string {
  let cut = -1;
  let hit = '';
  for (const s of stop) {
    const at = text.indexOf(s);
    if (at >= 0 && (cut < 0 || at < cut)) [cut, hit] = [at, s];
  }
  return cut < 0 ? text : text.slice(0, keep ? cut + hit.length : cut);
}

function error(res: ServerResponse, status: number, type: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { message, type, param: null, code: status } }));
}

/** The reasons vLLM refuses these sampling settings, or []. */
function samplingProblems(body: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const n = body.n ?? 1;
  const temperature = body.temperature ?? 1;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) problems.push(`n must be at least 1, got ${String(n)}.`);
  if (body.max_tokens !== undefined && body.max_tokens !== null && (typeof body.max_tokens !== 'number' || body.max_tokens < 1)) {
    problems.push(`max_tokens must be at least 1, got ${String(body.max_tokens)}.`);
  }
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature < 0 || temperature > 2) problems.push(`temperature must be in [0, 2], got ${String(temperature)}.`);
  else if (temperature < 1e-5 && typeof n === 'number' && n > 1) problems.push(`n must be 1 when using greedy sampling, got ${n}.`);
  const stop = typeof body.stop === 'string' ? [body.stop] : ((body.stop as string[] | undefined) ?? []);
  if (stop.some((s) => !s)) problems.push('stop cannot contain an empty string.');
  return problems;
}

export async function startFakeVllm(expect: AvWireExpectation, options: FakeVllmOptions): Promise<FakeVllm> {
  const calls: FakeVllmCall[] = [];
  const violations: string[] = [];
  let busy = options.busyFor ?? 0;
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method !== 'POST' || req.url !== '/v1/completions') return error(res, 404, 'NotFoundError', `no route ${req.method} ${req.url}`);
    if (busy > 0) {
      busy--;
      return error(res, 503, 'ServiceUnavailableError', 'The request queue is full.');
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    const refuse = (status: number, type: string, problems: string[]) => {
      violations.push(...problems);
      error(res, status, type, problems.join('; '));
    };
    if (body.model !== options.model) return refuse(404, 'NotFoundError', [`The model \`${String(body.model)}\` does not exist (model is ${JSON.stringify(body.model)}).`]);
    const sampling = samplingProblems(body);
    if (sampling.length) return refuse(400, 'BadRequestError', sampling);
    const hasText = body.prompt !== undefined && body.prompt !== null;
    if (!hasText && (typeof body.prompt_embeds !== 'string' || body.prompt_embeds === '')) return refuse(400, 'BadRequestError', ['Either prompt or prompt_embeds must be provided and non-empty.']);
    if (hasText && body.prompt === '' && !options.bos) return refuse(400, 'BadRequestError', ['The decoder prompt cannot be empty']);
    // Served, but wrongly: the text prompt is a second prompt with n completions of its own.
    if (hasText) violations.push(`prompt is ${JSON.stringify(body.prompt)} beside prompt_embeds: vLLM generates for it too`);

    let received: ReceivedPrompt = { rows: 0, cols: 0, injectedNorm: Number.NaN };
    const embeds = body.prompt_embeds as string;
    if (!STRICT_BASE64.test(embeds)) return refuse(400, 'BadRequestError', ['prompt_embeds is not strict base64 (validate=True refuses line breaks and the url-safe alphabet)']);
    try {
      const tensor = loadTorchFloatTensor(Buffer.from(embeds, 'base64'));
      const check = checkAvEmbeds(tensor.values, tensor.shape, expect);
      if (check.violations.length) return refuse(400, 'BadRequestError', check.violations);
      received = check.received;
    } catch (err) {
      return refuse(400, 'BadRequestError', [`prompt_embeds does not decode as a torch archive: ${(err as Error).message}`]);
    }

    const call: FakeVllmCall = { body: { ...body, prompt_embeds: '(checked)' }, received, authorization: req.headers.authorization };
    calls.push(call);
    const n = (body.n as number | undefined) ?? 1;
    const stop = typeof body.stop === 'string' ? [body.stop] : ((body.stop as string[] | undefined) ?? []);
    const keep = body.include_stop_str_in_output === true;
    // The embeddings' choices first, then the text prompt's, as vLLM indexes prompts in order.
    const texts = Array.from({ length: hasText ? 2 * n : n }, (_, i) => applyStop(options.reply(call, i % n), stop, keep));
    const head = { id: `cmpl-${calls.length}`, object: 'text_completion', created: Math.floor(Date.now() / 1000), model: options.model };
    if (body.stream === true) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const [index, text] of texts.entries()) {
        const cut = Math.ceil(text.length / 2);
        for (const delta of [text.slice(0, cut), text.slice(cut)]) res.write(`data: ${JSON.stringify({ ...head, choices: [{ index, text: delta, logprobs: null, finish_reason: null }] })}\n\n`);
        res.write(`data: ${JSON.stringify({ ...head, choices: [{ index, text: '', logprobs: null, finish_reason: 'stop' }] })}\n\n`);
      }
      return res.end('data: [DONE]\n\n');
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        ...head,
        // Out of order on purpose: clients must sort by index.
        choices: texts.map((text, index) => ({ index, text, finish_reason: 'stop', logprobs: null })).reverse(),
        usage: { prompt_tokens: received.rows, completion_tokens: texts.length, total_tokens: received.rows + texts.length },
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    violations,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
