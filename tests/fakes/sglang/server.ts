/**
 * A local fake of SGLang's native `POST /generate`, written from SGLang's own request handling
 * (github.com/sgl-project/sglang: `GenerateReqInput._validate_inputs` and `_determine_batch_size`
 * in python/sglang/srt/managers/io_struct.py at commit f11d231cea29f76f78aaa524783d6556267e3b58,
 * `SamplingParams.verify` in python/sglang/srt/sampling/sampling_params.py at commit
 * 00c17cafcb9e289d5ca97c50e44ada54e4fd5b03):
 *
 * - one of `text`, `input_ids`, `input_embeds` is required; `text`, then `input_ids`, take
 *   precedence, so embeddings sent beside either are silently ignored (recorded as a violation);
 * - temperature must be finite and non-negative, max_new_tokens at least 0, top_p in (0, 1];
 * - stop strings end the text and are trimmed unless `no_stop_trim`;
 * - `stream: true` answers server-sent events of the cumulative text, then `[DONE]`;
 * - a full queue answers 503.
 *
 * The embeddings themselves are checked by wire-check.ts; a bad one answers 400 and is recorded.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { applyStop } from '../vllm/server';
import { checkAvEmbeds, type AvWireExpectation, type ReceivedPrompt } from './wire-check';

export interface FakeSglangCall {
  samplingParams: Record<string, unknown>;
  received: ReceivedPrompt;
}

export interface FakeSglang {
  url: string;
  calls: FakeSglangCall[];
  violations: string[];
  close(): Promise<void>;
}

export interface FakeSglangOptions {
  /** Answer this many requests with 503, as a server whose queue is full. */
  busyFor?: number;
}

function samplingProblems(sp: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const temperature = sp.temperature ?? 1;
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature < 0) problems.push(`temperature must be a non-negative finite number, got ${String(temperature)}.`);
  if (sp.max_new_tokens !== undefined && sp.max_new_tokens !== null && (typeof sp.max_new_tokens !== 'number' || sp.max_new_tokens < 0)) {
    problems.push(`max_new_tokens must be at least 0, got ${String(sp.max_new_tokens)}.`);
  }
  const topP = sp.top_p ?? 1;
  if (typeof topP !== 'number' || !(topP > 0 && topP <= 1)) problems.push(`top_p must be in (0, 1], got ${String(topP)}.`);
  return problems;
}

/** `reply` is the model's raw generation (the continuation after `<explanation>`), before stop strings apply. */
export async function startFakeSglang(expect: AvWireExpectation, reply: (call: FakeSglangCall, n: number) => string, options: FakeSglangOptions = {}): Promise<FakeSglang> {
  const calls: FakeSglangCall[] = [];
  const violations: string[] = [];
  let busy = options.busyFor ?? 0;
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const refuse = (problems: string[]) => {
      violations.push(...problems);
      send(400, { error: { message: problems.join('; ') } });
    };
    if (req.method !== 'POST' || req.url !== '/generate') return send(404, { detail: 'Not Found' });
    if (busy > 0) {
      busy--;
      return send(503, { error: { message: 'The request queue is full.' } });
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    const present = (k: string) => body[k] !== undefined && body[k] !== null;
    if (!present('text') && !present('input_ids') && !present('input_embeds')) return refuse(['Either text, input_ids or input_embeds should be provided.']);
    if (present('input_embeds') && (present('text') || present('input_ids'))) violations.push('input_embeds sent beside text or input_ids: SGLang ignores the embeddings');
    const embeds = body.input_embeds;
    if (!Array.isArray(embeds) || !embeds.every((r) => Array.isArray(r))) return refuse(['input_embeds is not a list of lists']);
    const sp = (body.sampling_params ?? {}) as Record<string, unknown>;
    const sampling = samplingProblems(sp);
    if (sampling.length) return refuse(sampling);
    const rows = embeds as number[][];
    const cols = rows[0]?.length ?? 0;
    if (!rows.every((r) => r.length === cols)) return refuse(['input_embeds rows differ in length']);
    const check = checkAvEmbeds(rows.flat(), [rows.length, cols], expect);
    if (check.violations.length) return refuse(check.violations);
    const call = { samplingParams: sp, received: check.received };
    calls.push(call);
    const stop = typeof sp.stop === 'string' ? [sp.stop] : ((sp.stop as string[] | undefined) ?? []);
    const text = applyStop(reply(call, calls.length), stop, sp.no_stop_trim === true);
    const matched = stop.find((s) => text.endsWith(s) || reply(call, calls.length).includes(s));
    const meta = { id: `req-${calls.length}`, finish_reason: matched ? { type: 'stop', matched } : { type: 'length', length: sp.max_new_tokens }, prompt_tokens: rows.length, completion_tokens: 1, cached_tokens: 0 };
    if (body.stream === true) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const cut = Math.ceil(text.length / 2);
      res.write(`data: ${JSON.stringify({ text: text.slice(0, cut), meta_info: { ...meta, finish_reason: null } })}\n\n`);
      res.write(`data: ${JSON.stringify({ text, meta_info: meta })}\n\n`);
      return res.end('data: [DONE]\n\n');
    }
    send(200, { text, meta_info: meta });
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
