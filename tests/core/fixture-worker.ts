/**
 * A hand-built stand-in for the inference worker, for core tests that must not depend on the
 * model stack: it answers with AnalyzeResponses shaped exactly as the real worker's (each one
 * is validated against AnalyzeResponseSchema), tokenizing like the reference stack (BOS, then
 * one token per UTF-8 byte). It can be switched down, made slow, or made to hang, to exercise
 * the dispatcher's failure paths.
 */
import { createHash } from 'node:crypto';
import { AnalysisBackendError, type AnalysisBackend } from '../../src/core/backend';
import {
  AnalyzeRequestSchema,
  AnalyzeResponseSchema,
  encodeActivation,
  type AnalyzeRequestInput,
  type AnalyzeResponse,
  type Token,
} from '../../src/protocol/analyze';

export const FIXTURE_D_MODEL = 128;
const BOS = 256;

/** Reference-stack tokens: BOS plus one token per UTF-8 byte, offsets in UTF-16 units. */
export function byteTokens(prompt: string): Token[] {
  const out: Token[] = [{ id: BOS, text: '<|bos|>', start: 0, end: 0, special: true }];
  let offset = 0;
  for (const ch of prompt) {
    const bytes = Buffer.from(ch, 'utf8');
    for (const b of bytes) out.push({ id: b, text: bytes.length === 1 ? ch : `<${b.toString(16).toUpperCase().padStart(2, '0')}>`, start: offset, end: offset + ch.length, special: false });
    offset += ch.length;
  }
  return out;
}

/** A deterministic number in [0, 1) from a string, so the same prompt gives the same result. */
function unit(seed: string): number {
  return createHash('sha256').update(seed).digest().readUInt32LE(0) / 2 ** 32;
}

export interface FixtureWorkerState {
  mode: 'up' | 'down' | 'hang';
  delayMs: number;
}

export class FixtureWorker implements AnalysisBackend {
  readonly state: FixtureWorkerState = { mode: 'up', delayMs: 0 };
  readonly requests: AnalyzeRequestInput[] = [];
  closed = false;

  private gate: Promise<void> | null = null;

  /** Holds every answer until the returned function is called (so a test can subscribe first). */
  hold(): () => void {
    let release!: () => void;
    this.gate = new Promise<void>((resolve) => (release = resolve));
    return () => {
      this.gate = null;
      release();
    };
  }

  async analyze(input: AnalyzeRequestInput, signal?: AbortSignal): Promise<AnalyzeResponse> {
    this.requests.push(input);
    if (this.gate) await this.gate;
    if (this.state.mode === 'down') {
      throw new AnalysisBackendError('connect ECONNREFUSED 127.0.0.1:8477', { status: 503, code: 'worker_unavailable', retryable: true, detail: 'connect ECONNREFUSED 127.0.0.1:8477' });
    }
    if (this.state.mode === 'hang' || this.state.delayMs > 0) {
      await new Promise<void>((resolve, reject) => {
        const timer = this.state.mode === 'hang' ? undefined : setTimeout(resolve, this.state.delayMs);
        signal?.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(signal.reason ?? new Error('aborted'));
        });
      });
    }
    const request = AnalyzeRequestSchema.parse(input);
    const tokens = byteTokens(request.prompt);
    const resolved = (request.positions ?? [-1]).map((p) => (p < 0 ? tokens.length + p : p));
    for (const [i, p] of resolved.entries()) {
      if (p < 0 || p >= tokens.length) {
        const detail = `position ${request.positions?.[i]} is out of range: the prompt has ${tokens.length} tokens (0-${tokens.length - 1}, or -1 to -${tokens.length}).`;
        throw new AnalysisBackendError(detail, { status: 400, code: 'invalid_position', retryable: false, detail });
      }
    }
    const response: AnalyzeResponse = {
      model: 'confab-reference-v1',
      layer: 2,
      d_model: FIXTURE_D_MODEL,
      tokens,
      positions: resolved.map((position) => {
        const token = tokens[position];
        const seed = `${request.prompt}|${position}`;
        const features = Array.from({ length: request.top_k }, (_, rank) => {
          const index = Math.floor(unit(`${token.id}|f${rank}`) * 1024);
          return { index, activation: Number((8 / (rank + 1) + unit(`${seed}|a${rank}`)).toFixed(4)), label: `bytes like "${token.text}" (feature ${index})` };
        });
        const vector = new Float32Array(FIXTURE_D_MODEL).map((_, d) => unit(`${seed}|x${d}`) * 2 - 1);
        const cosine = 0.5 + 0.45 * unit(`${seed}|cos`);
        return {
          position,
          token: token.text,
          sae: { features, l0: 16, explained_variance: 0.9, fve_nrm: 0.88 },
          explanations: Array.from({ length: request.nla_samples }, (_, sample) => {
            const text = `The token "${token.text}" closes a word. It sits in a computing jargon entry. Sample ${sample + 1}.`;
            const c = Math.min(1, cosine + 0.01 * sample);
            return { text, raw: `<explanation>${text}</explanation>`, parsed: true, ar: { cosine: c, mse_nrm: 2 * (1 - c), fve_nrm: 1 - (2 * (1 - c)) / 0.9 } };
          }),
          ...(request.return_activations ? { activation: encodeActivation(vector) } : {}),
        };
      }),
      timings_ms: { tokenize: 0.1, subject: 1.6, sae: 0.4, av: 17, ar: 2, total: 21.1, queue: 0 },
    };
    return AnalyzeResponseSchema.parse(response);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
