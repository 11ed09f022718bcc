/**
 * AV backend `onnx`: local generation from `inputs_embeds` with a KV cache.
 *
 * The decoder graph (opset 17) takes `inputs_embeds` [B,T,d] and `past`
 * [n_layer,2,B,n_head,P,head_dim] and returns `logits` [B,T,V] and `present` (P+T). One graph
 * serves prefill (P = 0) and each decode step (T = 1). Every AV prompt has the same template
 * length, so prompts x samples run as one batch with no padding and no attention mask.
 *
 * Each (prompt, sample) row draws from its own PRNG seeded with seed + sample, so a seeded
 * request gives the same texts alone or batched with others (the sglang backend seeds the same
 * way).
 */
import type * as ortTypes from 'onnxruntime-node';
import { EngineError } from '../engine';
import type { AvBackend, BuiltPrompt, SamplingOptions } from './av-backend';
import { createSession, ort, requireNames, type ExecutionProvider } from './execution';
import { EXPLANATION_CLOSE } from './parse';
import type { AvBackendContext } from './registry';
import { RowReader } from './safetensors';
import type { Tokenizer } from './tokenizer';

/** Embedding rows for generated tokens: the whole table when small, else rows cached as read. */
class TokenEmbeddings {
  private readonly cache = new Map<number, Float32Array>();
  private constructor(
    private readonly reader: RowReader,
    private readonly table: Float32Array | null,
    private readonly scale: number,
    readonly d: number,
  ) {}

  static async open(file: string, key: string, scale: number): Promise<TokenEmbeddings> {
    const reader = await RowReader.open(file, key);
    let table: Float32Array | null = null;
    // Up to 64 MB of float32 it is cheaper to hold the table than to pread per generated token.
    if (reader.rows * reader.cols * 4 <= 64 * 2 ** 20) {
      table = new Float32Array(reader.rows * reader.cols);
      await reader.readRows(Int32Array.from({ length: reader.rows }, (_, i) => i), table, scale);
    }
    return new TokenEmbeddings(reader, table, scale, reader.cols);
  }

  /** Write row `id` into dst at `offset`. */
  async write(id: number, dst: Float32Array, offset: number): Promise<void> {
    if (this.table) {
      dst.set(this.table.subarray(id * this.d, (id + 1) * this.d), offset);
      return;
    }
    let row = this.cache.get(id);
    if (!row) {
      row = new Float32Array(this.d);
      await this.reader.readRows([id], row, this.scale);
      this.cache.set(id, row);
    }
    dst.set(row, offset);
  }

  close(): Promise<void> {
    return this.reader.close();
  }
}

/** mulberry32: small, fast, good enough for token sampling, and reproducible from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** argmax (temperature 0) or a draw from softmax(logits / temperature). Ties go to the lower id. */
export function pickToken(logits: Float32Array, offset: number, V: number, temperature: number, rand: () => number, scratch: Float64Array): number {
  let best = 0;
  let max = -Infinity;
  for (let v = 0; v < V; v++) {
    const x = logits[offset + v];
    if (x > max) (max = x), (best = v);
  }
  if (temperature <= 0) return best;
  let sum = 0;
  for (let v = 0; v < V; v++) {
    const p = Math.exp((logits[offset + v] - max) / temperature);
    scratch[v] = p;
    sum += p;
  }
  let r = rand() * sum;
  for (let v = 0; v < V; v++) {
    r -= scratch[v];
    if (r <= 0) return v;
  }
  return best;
}

interface KvShape {
  nLayer: number;
  nHead: number;
  headDim: number;
}

function kvShapeOf(session: ortTypes.InferenceSession, file: string, options: Record<string, unknown>): KvShape {
  const meta = session.inputMetadata.find((m) => m.name === 'past');
  const dims = meta && meta.isTensor ? meta.shape : [];
  const num = (v: unknown) => (typeof v === 'number' && v > 0 ? v : undefined);
  const nLayer = num(dims[0]) ?? num(options.n_layer);
  const nHead = num(dims[3]) ?? num(options.n_head);
  const headDim = num(dims[5]) ?? num(options.head_dim);
  if (!nLayer || !nHead || !headDim) {
    throw new EngineError(500, 'bad_model', `${file}: the "past" input's n_layer/n_head/head_dim are symbolic; give n_layer, n_head and head_dim in the manifest's nla.av section.`);
  }
  return { nLayer, nHead, headDim };
}

export class OnnxAvBackend implements AvBackend {
  readonly name = 'onnx';

  private constructor(
    private readonly session: ortTypes.InferenceSession,
    private readonly embeddings: TokenEmbeddings,
    private readonly tokenizer: Tokenizer,
    private readonly kv: KvShape,
    private readonly eos: Set<number>,
    private readonly maxContext: number,
  ) {}

  static async open(opts: {
    onnx: string;
    embeddings: string;
    embeddingKey: string;
    embedScale: number;
    tokenizer: Tokenizer;
    eosTokenIds: number[];
    maxContext: number;
    provider: ExecutionProvider;
    options?: Record<string, unknown>;
  }): Promise<OnnxAvBackend> {
    const session = await createSession(opts.onnx, opts.provider);
    requireNames(session, opts.onnx, ['inputs_embeds', 'past'], ['logits', 'present']);
    const kv = kvShapeOf(session, opts.onnx, opts.options ?? {});
    const embeddings = await TokenEmbeddings.open(opts.embeddings, opts.embeddingKey, opts.embedScale);
    return new OnnxAvBackend(session, embeddings, opts.tokenizer, kv, new Set(opts.eosTokenIds), opts.maxContext);
  }

  static fromContext(ctx: AvBackendContext): Promise<OnnxAvBackend> {
    const { spec } = ctx;
    const maxContext = typeof spec.options.max_context === 'number' ? spec.options.max_context : ctx.manifest.subject.maxTokens;
    return OnnxAvBackend.open({
      onnx: spec.onnx!,
      embeddings: spec.embeddings,
      embeddingKey: spec.embeddingKey,
      embedScale: spec.embedScale,
      tokenizer: ctx.tokenizer,
      eosTokenIds: spec.eosTokenIds,
      maxContext,
      provider: ctx.executionProvider,
      options: spec.options,
    });
  }

  /** Generate and return the ids too (the golden test compares ids). */
  async generateIds(prompts: BuiltPrompt[], sampling: SamplingOptions, signal?: AbortSignal): Promise<number[][][]> {
    const S = sampling.samples;
    if (prompts.length === 0 || S <= 0) return prompts.map(() => []);
    const { T, d } = prompts[0];
    for (const p of prompts) {
      if (p.T !== T || p.d !== d) throw new EngineError(500, 'av_batch', `AV prompts in one batch must share a length; got ${p.T} and ${T}.`);
    }
    const maxNew = Math.min(sampling.maxNewTokens, this.maxContext - T);
    if (maxNew < 1) throw new EngineError(400, 'max_new_tokens', `The AV template is ${T} tokens; the AV's context is ${this.maxContext}, leaving no room to generate.`);
    const B = prompts.length * S;
    const { nLayer, nHead, headDim } = this.kv;

    const prefill = new Float32Array(B * T * d);
    for (let p = 0; p < prompts.length; p++) for (let s = 0; s < S; s++) prefill.set(prompts[p].embeds, (p * S + s) * T * d);
    const seedBase = sampling.seed ?? Math.floor(Math.random() * 2 ** 31);
    const rows = Array.from({ length: B }, (_, b) => ({
      ids: [] as number[],
      done: false,
      tail: '',
      rand: mulberry32(seedBase + (b % S)),
    }));
    const V = this.tokenizerVocab();
    const scratch = new Float64Array(Math.max(V, 1));

    let feeds: Record<string, ortTypes.Tensor> = {
      inputs_embeds: new ort.Tensor('float32', prefill, [B, T, d]),
      past: new ort.Tensor('float32', new Float32Array(0), [nLayer, 2, B, nHead, 0, headDim]),
    };
    let tLen = T;
    const step = new Float32Array(B * d);
    for (let n = 0; n < maxNew; n++) {
      signal?.throwIfAborted();
      const out = await this.session.run(feeds);
      const logits = out.logits.data as Float32Array;
      const vocab = out.logits.dims[2];
      let alive = 0;
      for (let b = 0; b < B; b++) {
        const row = rows[b];
        if (row.done) continue;
        const id = pickToken(logits, (b * tLen + tLen - 1) * vocab, vocab, sampling.temperature, row.rand, scratch.length >= vocab ? scratch : new Float64Array(vocab));
        if (this.eos.has(id)) {
          row.done = true;
          continue;
        }
        row.ids.push(id);
        // The stop tag is ASCII: look for it in the raw bytes, decoded as latin1.
        row.tail = (row.tail + Buffer.from(this.tokenizer.tokenBytes(id)).toString('latin1')).slice(-64);
        if (row.tail.includes(EXPLANATION_CLOSE)) row.done = true;
        else alive++;
      }
      if (alive === 0 || n + 1 === maxNew) break;
      for (let b = 0; b < B; b++) {
        const last = rows[b].ids.length ? rows[b].ids[rows[b].ids.length - 1] : [...this.eos][0];
        await this.embeddings.write(last, step, b * d);
      }
      feeds = { inputs_embeds: new ort.Tensor('float32', step, [B, 1, d]), past: out.present };
      tLen = 1;
    }
    return prompts.map((_, p) => rows.slice(p * S, (p + 1) * S).map((r) => r.ids));
  }

  async generate(prompts: BuiltPrompt[], sampling: SamplingOptions, signal?: AbortSignal): Promise<string[][]> {
    const ids = await this.generateIds(prompts, sampling, signal);
    return ids.map((samples) => samples.map((s) => this.tokenizer.decode(s, { skipSpecial: true })));
  }

  private tokenizerVocab(): number {
    return this.tokenizer.vocabSize;
  }

  async close(): Promise<void> {
    await this.embeddings.close();
    await this.session.release();
  }
}
