/**
 * A local fake of Neuronpedia's NLA server (`/explain`, `/score`) and inference server
 * (`/v1/activation/topk-by-token`) in one process. It checks what clients send (the
 * X-SECRET-KEY header, required fields, vector width) and answers deterministically from the
 * input: tokens are the prompt's characters after a "<bos>", so a test can predict every field.
 * `busyFor` answers the first N requests with 429 and Retry-After, as a loaded server does.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeNeuronpediaOptions {
  secret?: string;
  dModel: number;
  layer: number;
  /** Answer this many requests with 429 before serving. */
  busyFor?: number;
}

export interface FakeNeuronpedia {
  url: string;
  requests: Array<{ path: string; body: Record<string, unknown> }>;
  violations: string[];
  close(): Promise<void>;
}

/** The cosine the fake reports for a description: deterministic and checkable. */
export function fakeCosine(description: string): number {
  return ((description.length % 9) + 1) / 10;
}

export async function startFakeNeuronpedia(options: FakeNeuronpediaOptions): Promise<FakeNeuronpedia> {
  const requests: FakeNeuronpedia['requests'] = [];
  const violations: string[] = [];
  let busy = options.busyFor ?? 0;
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (options.secret && req.headers['x-secret-key'] !== options.secret) {
      violations.push(`${req.url}: missing or wrong X-SECRET-KEY`);
      return send(401, { error: 'unauthorized' });
    }
    if (req.method === 'GET' && req.url === '/health') return send(200, { status: 'ok' });
    if (busy > 0) {
      busy--;
      return send(429, { error: 'busy' }, { 'retry-after': '1' });
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
    requests.push({ path: req.url ?? '', body });
    const fail = (problem: string) => {
      violations.push(`${req.url}: ${problem}`);
      send(400, { error: problem });
    };
    switch (req.url) {
      case '/v1/activation/topk-by-token': {
        if (typeof body.prompt !== 'string' || typeof body.model !== 'string' || typeof body.source !== 'string') return fail('prompt, model and source are required');
        const tokens = ['<bos>', ...[...body.prompt]];
        const k = typeof body.top_k === 'number' ? body.top_k : 5;
        const first = body.ignore_bos === false ? 0 : 1;
        return send(200, {
          tokens,
          results: tokens.slice(first).map((token, i) => ({
            token_position: i + first,
            token,
            top_features: Array.from({ length: k }, (_, j) => ({ feature_index: (token.codePointAt(0)! * 7 + j) % 1024, activation_value: 10 - j })),
          })),
        });
      }
      case '/explain': {
        if (typeof body.text !== 'string') return fail('text is required');
        const tokens = ['<bos>', ...[...body.text]];
        const positions = Array.isArray(body.positions) ? (body.positions as number[]) : [tokens.length - 1];
        return send(200, {
          layer_index: options.layer,
          results: positions.map((position) => {
            const description = `the character ${JSON.stringify(tokens[position])} at ${position}`;
            return {
              token: tokens[position],
              token_id: tokens[position].codePointAt(0),
              position,
              description,
              mse: 2 * (1 - fakeCosine(description)),
              cosine_similarity: fakeCosine(description),
            };
          }),
        });
      }
      case '/score': {
        if (typeof body.description !== 'string') return fail('description is required');
        const activation = body.activation;
        if (!Array.isArray(activation) || activation.length !== options.dModel || !activation.every((x) => typeof x === 'number' && Number.isFinite(x))) {
          return fail(`activation must be ${options.dModel} finite numbers`);
        }
        const cos = fakeCosine(body.description);
        return send(200, { mse: 2 * (1 - cos), cosine_similarity: cos });
      }
      default:
        return send(404, { error: `no route ${req.url}` });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, requests, violations, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
