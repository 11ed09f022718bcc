/**
 * A local fake of vLLM's OpenAI-compatible `POST /v1/completions` with `prompt_embeds`. It
 * decodes the torch.save archive with the tests' own zip + pickle reader (not the writer's
 * code) and checks the embeddings like the SGLang fake does.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadTorchFloatTensor } from '../../worker/remote/torch-reader';
import { checkAvEmbeds, type AvWireExpectation, type ReceivedPrompt } from '../sglang/wire-check';

export interface FakeVllmCall {
  body: Record<string, unknown>;
  received: ReceivedPrompt;
  authorization?: string;
}

export interface FakeVllm {
  url: string;
  calls: FakeVllmCall[];
  violations: string[];
  close(): Promise<void>;
}

export async function startFakeVllm(
  expect: AvWireExpectation,
  options: { model: string; reply: (call: FakeVllmCall, sample: number) => string },
): Promise<FakeVllm> {
  const calls: FakeVllmCall[] = [];
  const violations: string[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'POST' || req.url !== '/v1/completions') return send(404, { error: { message: `no route ${req.method} ${req.url}` } });
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    const problems: string[] = [];
    if (body.model !== options.model) problems.push(`model is ${JSON.stringify(body.model)}, expected ${options.model}`);
    if (body.prompt !== '') problems.push(`prompt is ${JSON.stringify(body.prompt)}; with prompt_embeds it must be ''`);
    if (typeof body.prompt_embeds !== 'string') problems.push('prompt_embeds is not a base64 string');
    let received: ReceivedPrompt = { rows: 0, cols: 0, injectedNorm: Number.NaN };
    if (typeof body.prompt_embeds === 'string') {
      try {
        const tensor = loadTorchFloatTensor(Buffer.from(body.prompt_embeds, 'base64'));
        const check = checkAvEmbeds(tensor.values, tensor.shape, expect);
        problems.push(...check.violations);
        received = check.received;
      } catch (err) {
        problems.push(`prompt_embeds does not decode as a torch archive: ${(err as Error).message}`);
      }
    }
    if (problems.length) {
      violations.push(...problems);
      return send(400, { object: 'error', message: problems.join('; '), type: 'BadRequestError', code: 400 });
    }
    const call: FakeVllmCall = { body: { ...body, prompt_embeds: '(checked)' }, received, authorization: req.headers.authorization };
    calls.push(call);
    const n = typeof body.n === 'number' ? body.n : 1;
    send(200, {
      id: `cmpl-${calls.length}`,
      object: 'text_completion',
      created: Math.floor(Date.now() / 1000),
      model: options.model,
      // Out of order on purpose: clients must sort by index.
      choices: Array.from({ length: n }, (_, i) => ({ index: i, text: options.reply(call, i), finish_reason: 'stop', logprobs: null })).reverse(),
      usage: { prompt_tokens: received.rows, completion_tokens: 1, total_tokens: received.rows + 1 },
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, calls, violations, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
