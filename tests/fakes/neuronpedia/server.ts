/**
 * A local fake of Neuronpedia's NLA server (`GET /`, `/explain`, `/describe`, `/score`) and
 * inference server (`GET /health`, `/v1/activation/topk-by-token`) in one process, held to
 * the owners' wire contract (tests/contracts/schemas): every request is validated against the
 * spec's request schema and refused with FastAPI's 422 when it fails, and every answer the fake
 * writes is validated against the response schema too, so the fake cannot drift from the spec.
 *
 * Answers are deterministic from the input: tokens are the prompt's characters after a
 * "<bos>", so a test can predict every field. Options reproduce the servers' behaviours that
 * clients must survive: the earlier snake_case inference wire, an NLA server without a
 * reconstructor (null scores), `/score` slots that answer 429 once full, and plain busy 429s.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { violations as contractViolations, type Server } from '../../contracts/contract';

export interface FakeNeuronpediaOptions {
  secret?: string;
  dModel: number;
  layer: number;
  /** Answer this many POSTs with 429 (and Retry-After: 1) before serving. */
  busyFor?: number;
  /** The inference server's wire: camelCase today, snake_case before its rewrite. */
  wire?: 'camelCase' | 'snake_case';
  /** False: no reconstructor loaded, so mse and cosine_similarity are null. */
  reconstructor?: boolean;
  /** `/score` slots (NLA_RECONSTRUCTOR_MAX_CONCURRENT); one more concurrent call gets 429. */
  scoreSlots?: number;
  /** How long each /score holds its slot. */
  scoreDelayMs?: number;
}

export interface FakeNeuronpedia {
  url: string;
  requests: Array<{ path: string; body: Record<string, unknown> }>;
  /** Requests and answers that broke the contract; a passing test expects none. */
  violations: string[];
  /** Most /score calls in flight at once, and how many were refused with 429. */
  score: { maxInFlight: number; refused: number };
  close(): Promise<void>;
}

/** The cosine the fake reports for a description: deterministic and checkable. */
export function fakeCosine(description: string): number {
  return ((description.length % 9) + 1) / 10;
}

function describeToken(token: string, position: number): string {
  return `the character ${JSON.stringify(token)} at ${position}`;
}

export async function startFakeNeuronpedia(options: FakeNeuronpediaOptions): Promise<FakeNeuronpedia> {
  const requests: FakeNeuronpedia['requests'] = [];
  const violations: string[] = [];
  const score = { maxInFlight: 0, refused: 0 };
  let scoring = 0;
  let busy = options.busyFor ?? 0;
  const slots = options.scoreSlots ?? 4;
  const reconstructor = options.reconstructor ?? true;
  const wire = options.wire ?? 'camelCase';

  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const path = (req.url ?? '/').split('?')[0];
    const kind: Server = path.startsWith('/v1/') || path === '/health' ? 'inference' : 'nla';
    const send = (status: number, body: unknown, def?: string, headers: Record<string, string> = {}) => {
      if (def) for (const v of contractViolations(kind, def, body)) violations.push(`fake answer ${path}: ${v}`);
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    const reject422 = (found: string[]) => {
      violations.push(...found.map((v) => `request ${path}: ${v}`));
      send(422, { detail: found.map((msg) => ({ loc: ['body'], msg, type: 'value_error' })) }, 'HTTPValidationError');
    };

    // Auth: the inference server's middleware exempts /health and says 401 for any bad key;
    // the NLA server tells a missing key (401) from a wrong one (403).
    if (options.secret && path !== '/health') {
      const given = req.headers['x-secret-key'];
      if (given !== options.secret) {
        violations.push(`${path}: ${given === undefined ? 'missing' : 'wrong'} X-SECRET-KEY`);
        if (kind === 'inference') return send(401, { error: 'Invalid or missing X-SECRET-KEY header' }, 'Unauthorized');
        return send(given === undefined ? 401 : 403, { detail: given === undefined ? 'X-SECRET-KEY header required' : 'Invalid secret key' }, 'HTTPException');
      }
    }
    if (req.method === 'GET' && path === '/health') return send(200, { status: 'ok' }, 'HealthResponse');
    if (req.method === 'GET' && path === '/') {
      return send(
        200,
        {
          status: 'ok',
          verbalizer_model: 'fake-av',
          d_model: options.dModel,
          reconstructor_available: reconstructor,
          source_model: 'fake-subject',
          extraction_layer: options.layer,
          completion_available: false,
          num_cuda_devices: 0,
          max_concurrent: 24,
          max_concurrent_explains: 1,
          source_max_concurrent: 4,
          reconstructor_max_concurrent: slots,
          max_describe_requests: 32,
          limits: { max_input_chars: 65536, max_positions_per_request: 512, max_new_tokens: 4096, max_describe_batch: 512, max_description_chars: 8192, max_completion_tokens: 512 },
        },
        'HealthResponse',
      );
    }
    if (busy > 0) {
      busy--;
      return send(429, { detail: 'All slots in use. Please retry.' }, 'HTTPException', { 'retry-after': '1' });
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      return reject422(['JSON decode error']);
    }
    requests.push({ path, body });

    switch (path) {
      case '/v1/activation/topk-by-token': {
        if (wire === 'snake_case') {
          if (typeof body.prompt !== 'string' || typeof body.ignore_bos !== 'boolean') return reject422(['ignore_bos: Field required (snake_case server)']);
        } else {
          const found = contractViolations('inference', 'ActivationTopkByTokenRequest', body);
          if (found.length > 0) return reject422(found);
        }
        const prompt = body.prompt as string;
        const tokens = ['<bos>', ...prompt];
        const k = Number(body.topK ?? body.top_k ?? 5);
        const ignoreBos = Boolean(body.ignoreBos ?? body.ignore_bos);
        const first = ignoreBos ? 1 : 0;
        const features = (token: string) => Array.from({ length: k }, (_, j) => ({ index: (token.codePointAt(0)! * 7 + j) % 1024, value: 10 - j }));
        if (wire === 'snake_case') {
          return send(200, {
            tokens: tokens.slice(first),
            results: tokens.slice(first).map((token, i) => ({
              token_position: i + first,
              token,
              top_features: features(token).map((f) => ({ feature_index: f.index, activation_value: f.value })),
            })),
          });
        }
        return send(
          200,
          {
            tokens: tokens.slice(first),
            results: tokens.slice(first).map((token, i) => ({
              tokenPosition: i + first,
              token,
              isSpecial: i + first === 0,
              topFeatures: features(token).map((f) => ({ featureIndex: f.index, activationValue: f.value })),
            })),
          },
          'ActivationTopkByTokenResponse',
        );
      }
      case '/explain': {
        const found = contractViolations('nla', 'ExplainRequest', body);
        if (found.length > 0) return reject422(found);
        if (typeof body.text !== 'string' || body.text === '') return send(400, { detail: 'Provide either `text` or `messages`.' }, 'HTTPException');
        const tokens = ['<bos>', ...body.text];
        const asked = Array.isArray(body.positions) && body.positions.length > 0 ? (body.positions as number[]) : tokens.map((_, i) => i);
        const positions = asked.map((p) => (p < 0 ? tokens.length + p : p));
        if (positions.some((p) => p < 0 || p >= tokens.length)) return send(400, { detail: `Position out of range (0..${tokens.length - 1})` }, 'HTTPException');
        if (body.reverse !== false) positions.reverse();
        const results = positions.map((position) => {
          const description = describeToken(tokens[position], position);
          const cos = reconstructor ? fakeCosine(description) : null;
          return {
            token: tokens[position],
            token_id: tokens[position].codePointAt(0)!,
            position,
            l2_norm: 1 + position,
            description,
            mse: cos === null ? null : 2 * (1 - cos),
            cosine_similarity: cos,
            role: null,
            section: null,
            channel: null,
            message_index: null,
          };
        });
        if (body.stream === true) return streamFrames(res, [{ layer_index: options.layer, total: results.length, prompt_length: tokens.length }, ...results], violations);
        return send(200, { layer_index: options.layer, results }, 'ExplainResponse');
      }
      case '/score': {
        const found = contractViolations('nla', 'ScoreRequest', body);
        if (found.length > 0) return reject422(found);
        if (!reconstructor) return send(503, { detail: 'NLA reconstructor not loaded' }, 'HTTPException');
        const activation = body.activation as number[];
        if (activation.length !== options.dModel) return send(400, { detail: `Vector length ${activation.length} != d_model ${options.dModel}` }, 'HTTPException');
        if (scoring >= slots) {
          score.refused++;
          return send(429, { detail: `All ${slots} /score slot(s) in use. Try again shortly.` }, 'HTTPException');
        }
        scoring++;
        score.maxInFlight = Math.max(score.maxInFlight, scoring);
        try {
          await new Promise((resolve) => setTimeout(resolve, options.scoreDelayMs ?? 0));
        } finally {
          scoring--;
        }
        const cos = fakeCosine(body.description as string);
        return send(200, { mse: 2 * (1 - cos), cosine_similarity: cos }, 'ScoreResponse');
      }
      default:
        return send(404, { detail: 'Not Found' });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    violations,
    score,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function streamFrames(res: ServerResponse, frames: unknown[], violations: string[]): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  for (const frame of frames) {
    for (const v of contractViolations('nla', 'ExplainStreamFrame', frame)) violations.push(`fake stream frame: ${v}`);
    res.write(`data: ${JSON.stringify(frame)}\n\n`);
  }
  res.end('data: [DONE]\n\n');
}
