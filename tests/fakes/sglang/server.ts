/**
 * A local fake of SGLang's native `POST /generate`, checking the wire format the `sglang` AV
 * backend sends: `input_embeds` as [T][d] JSON floats (and never `input_ids`), sampling params
 * present, and the embeddings themselves (wire-check.ts). A violation answers 400, as a strict
 * server would, and is recorded for the test to assert on.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
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

/** `reply` chooses the generated text (the continuation after `<explanation>`). */
export async function startFakeSglang(expect: AvWireExpectation, reply: (call: FakeSglangCall, n: number) => string): Promise<FakeSglang> {
  const calls: FakeSglangCall[] = [];
  const violations: string[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'POST' || req.url !== '/generate') return send(404, { error: `no route ${req.method} ${req.url}` });
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    const problems: string[] = [];
    if ('input_ids' in body || 'text' in body) problems.push('input_ids/text sent beside input_embeds');
    const embeds = body.input_embeds;
    if (!Array.isArray(embeds) || !embeds.every((r) => Array.isArray(r))) {
      problems.push('input_embeds is not a list of lists');
    }
    const sp = (body.sampling_params ?? {}) as Record<string, unknown>;
    if (typeof sp.temperature !== 'number' || typeof sp.max_new_tokens !== 'number') problems.push('sampling_params lacks temperature or max_new_tokens');
    let received: ReceivedPrompt = { rows: 0, cols: 0, injectedNorm: Number.NaN };
    if (problems.length === 0) {
      const rows = embeds as number[][];
      const cols = rows[0]?.length ?? 0;
      if (!rows.every((r) => r.length === cols)) problems.push('input_embeds rows differ in length');
      const check = checkAvEmbeds(rows.flat(), [rows.length, cols], expect);
      problems.push(...check.violations);
      received = check.received;
    }
    if (problems.length) {
      violations.push(...problems);
      return send(400, { error: { message: problems.join('; ') } });
    }
    const call = { samplingParams: sp, received };
    calls.push(call);
    send(200, { text: reply(call, calls.length), meta_info: { finish_reason: { type: 'stop' }, prompt_tokens: received.rows } });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    violations,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
