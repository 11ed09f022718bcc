/**
 * The model runtime behind the worker: `createEngine(manifest)` loads every piece a manifest
 * names and implements `Engine` (src/worker/engine.ts).
 *
 * `analyzeBatch` serves all the requests that arrived together with shared passes: one padded
 * subject forward, one SAE pass over every requested position, one AV generation per distinct
 * sampling setting, one AR batch. The subject model is causal, so right padding cannot change
 * the hidden state of any real token and no attention mask is needed.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type * as ortTypes from 'onnxruntime-node';
import {
  encodeActivation,
  type AnalyzeRequest,
  type AnalyzeResponse,
  type ArScore,
  type Capabilities,
  type Explanation,
  type PositionResult,
  type Token,
} from '../../protocol/analyze';
import { EngineError, promptTooLong, type Engine, type EngineRequest, type SamplingOptions, type TopkByTokenResult } from '../engine';
import { OnnxArBackend } from './ar-onnx';
import type { ArBackend, AvBackend, BuiltPrompt } from './av-backend';
import { OnnxAvBackend } from './av-onnx';
import { AvPromptBuilder, checkActivation, fillAvTemplate } from './embeddings';
import { createSession, ort, requireNames, type ExecutionProvider } from './execution';
import { pruneToOutputs } from './graph-rewrite';
import { loadManifest, type ModelManifest } from './manifest';
import { arScoreFromCosine } from './metrics';
import { parseExplanation } from './parse';
import { createArBackend, createAvBackend, registerArBackend, registerAvBackend } from './registry';
import { Sae } from './sae';
import { tokenDisplayText } from './token-text';
import { Tokenizer } from './tokenizer';

registerAvBackend('onnx', (ctx) => OnnxAvBackend.fromContext(ctx));
registerArBackend('onnx', (ctx) => OnnxArBackend.fromContext(ctx));

export interface EngineOptions {
  /** Overrides the manifest's execution_provider. */
  executionProvider?: ExecutionProvider;
  /** Reported by capabilities(); defaults to package.json's version. */
  version?: string;
}

export interface TokenizedPrompt {
  ids: number[];
  tokens: Token[];
}

function packageVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    return (JSON.parse(readFileSync(require.resolve('../../../package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

const now = () => performance.now();
const round = (ms: number) => Math.round(ms * 1000) / 1000;

export class RuntimeEngine implements Engine {
  private readonly templateEndsWithOpenTag: boolean;

  private constructor(
    readonly manifest: ModelManifest,
    readonly tokenizer: Tokenizer,
    private readonly subject: ortTypes.InferenceSession,
    readonly sae: Sae,
    readonly nla: { builder: AvPromptBuilder; av: AvBackend; ar: ArBackend; avTokenizer: Tokenizer } | null,
    private readonly version: string,
  ) {
    this.templateEndsWithOpenTag = manifest.nla ? fillAvTemplate(manifest.nla.av).trimEnd().endsWith('<explanation>') : false;
  }

  static async create(manifestPath: string, opts: EngineOptions = {}): Promise<RuntimeEngine> {
    const manifest = loadManifest(manifestPath, { executionProvider: opts.executionProvider });
    const provider = manifest.executionProvider;
    const tokenizer = Tokenizer.fromFile(manifest.subject.tokenizer);
    // Only the layer-L output is read, so the blocks above L (and the LM head) are pruned away.
    const subjectGraph = await readFile(manifest.subject.onnx);
    const subject = await createSession(manifest.subject.onnx, provider, {}, pruneToOutputs(subjectGraph, [manifest.subject.hiddenOutput]) ?? subjectGraph);
    requireNames(subject, manifest.subject.onnx, [manifest.subject.inputName], [manifest.subject.hiddenOutput]);
    const sae = await Sae.load(manifest.sae.cfg, manifest.sae.weights, manifest.sae.labels, provider);
    let nla: RuntimeEngine['nla'] = null;
    if (manifest.nla) {
      const { av: avSpec, ar: arSpec } = manifest.nla;
      const tokenizerFor = (file: string) => (file === manifest.subject.tokenizer ? tokenizer : Tokenizer.fromFile(file));
      const avTokenizer = tokenizerFor(avSpec.tokenizer);
      const builder = await AvPromptBuilder.open(avSpec, avTokenizer, manifest.subject.dModel);
      const av = await createAvBackend({ manifest, spec: avSpec, tokenizer: avTokenizer, executionProvider: provider });
      const ar = await createArBackend({ manifest, spec: arSpec, tokenizer: tokenizerFor(arSpec.tokenizer), executionProvider: provider });
      nla = { builder, av, ar, avTokenizer };
    }
    return new RuntimeEngine(manifest, tokenizer, subject, sae, nla, opts.version ?? packageVersion());
  }

  capabilities(): Capabilities {
    const m = this.manifest;
    return {
      model: m.name,
      layer: m.subject.layer,
      d_model: m.subject.dModel,
      max_tokens: m.subject.maxTokens,
      max_prompt_chars: this.maxPromptChars(),
      sae: { width: m.sae.cfg.dSae, architecture: m.sae.cfg.architecture, hook_name: m.sae.cfg.hookName },
      nla: { av_backend: this.nla?.av.name ?? 'none', ar_backend: this.nla?.ar.name ?? 'none', available: this.nla !== null },
      device: m.executionProvider,
      version: this.version,
    };
  }

  /**
   * The longest prompt, in UTF-16 code units, that could fit the token limit: longer ones are
   * refused before tokenizing, which costs time and memory in proportion to the prompt.
   */
  maxPromptChars(): number | undefined {
    const room = this.manifest.subject.maxTokens - (this.manifest.subject.bosTokenId !== null ? 1 : 0);
    const bound = Math.max(0, room) * this.tokenizer.maxCharsPerToken();
    return Number.isFinite(bound) ? bound : undefined;
  }

  /**
   * User text: special tokens are never matched, and BOS is added when the manifest says so. A
   * rendered chat template (`specials`) matches them, and gets no second BOS when its template
   * wrote one, as Neuronpedia's NLA server encodes a rendered chat.
   */
  tokenize(prompt: string, options: { specials?: boolean } = {}): TokenizedPrompt {
    const charLimit = this.maxPromptChars();
    if (charLimit !== undefined && prompt.length > charLimit) throw promptTooLong(prompt.length, charLimit, this.manifest.subject.maxTokens);
    const enc = this.tokenizer.encode(prompt, { allowSpecial: options.specials === true });
    const ids: number[] = [];
    const tokens: Token[] = [];
    const bos = this.manifest.subject.bosTokenId;
    const addBos = bos !== null && !(options.specials === true && enc.ids[0] === bos);
    if (addBos) {
      ids.push(bos);
      tokens.push({ id: bos, text: tokenDisplayText(this.tokenizer, bos), start: 0, end: 0, special: true });
    }
    enc.ids.forEach((id, i) => {
      ids.push(id);
      tokens.push({ id, text: tokenDisplayText(this.tokenizer, id), start: enc.offsets[i][0], end: enc.offsets[i][1], special: enc.special[i] });
    });
    const limit = this.manifest.subject.maxTokens;
    if (ids.length > limit) {
      throw new EngineError(
        400,
        'prompt_too_long',
        `Prompt is ${ids.length.toLocaleString('en-US')} tokens${bos !== null ? ' (with BOS)' : ''}; the limit is ${limit.toLocaleString('en-US')}.`,
      );
    }
    return { ids, tokens };
  }

  /**
   * Layer-L hidden states of several token sequences in one right-padded run: [B, T, d] and T.
   * Graphs exported by optimum also take `attention_mask` (and `position_ids`); they are fed
   * when the graph has them, so a real checkpoint's export runs unchanged.
   */
  async forward(seqs: number[][]): Promise<{ hidden: Float32Array; T: number }> {
    const B = seqs.length;
    const T = Math.max(...seqs.map((s) => s.length));
    const ids = new BigInt64Array(B * T);
    const mask = new BigInt64Array(B * T);
    seqs.forEach((s, b) =>
      s.forEach((id, t) => {
        ids[b * T + t] = BigInt(id);
        mask[b * T + t] = 1n;
      }),
    );
    const { inputName, hiddenOutput, dModel } = this.manifest.subject;
    const feeds: Record<string, ortTypes.Tensor> = { [inputName]: new ort.Tensor('int64', ids, [B, T]) };
    if (this.subject.inputNames.includes('attention_mask')) feeds.attention_mask = new ort.Tensor('int64', mask, [B, T]);
    if (this.subject.inputNames.includes('position_ids')) {
      const positions = new BigInt64Array(B * T);
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) positions[b * T + t] = BigInt(t);
      feeds.position_ids = new ort.Tensor('int64', positions, [B, T]);
    }
    const out = await this.subject.run(feeds, [hiddenOutput]);
    const hidden = out[hiddenOutput];
    if (hidden.dims[2] !== dModel) throw new EngineError(500, 'bad_model', `${this.manifest.subject.onnx}: "${hiddenOutput}" has width ${hidden.dims[2]}; d_model is ${dModel}.`);
    return { hidden: hidden.data as Float32Array, T };
  }

  private resolvePosition(p: number, n: number): number {
    const at = p < 0 ? n + p : p;
    if (at < 0 || at >= n) {
      throw new EngineError(400, 'bad_position', `Position ${p} is out of range; the prompt has ${n} tokens (positions 0..${n - 1}, or -${n}..-1 from the end).`);
    }
    return at;
  }

  private samplingFor(req: AnalyzeRequest): SamplingOptions {
    return {
      samples: req.nla_samples,
      temperature: req.temperature ?? (req.nla_samples > 1 ? 1.0 : 0),
      maxNewTokens: req.max_new_tokens ?? this.manifest.nla?.av.maxNewTokens ?? 64,
      seed: req.seed,
    };
  }

  /** AV over vectors grouped by sampling setting, then one AR batch; results parallel to `jobs`. */
  private async verbalize(jobs: Array<{ vector: Float32Array; sampling: SamplingOptions }>, signal?: AbortSignal): Promise<{ explanations: Explanation[][]; avMs: number; arMs: number }> {
    const nla = this.nla;
    const explanations: Explanation[][] = jobs.map(() => []);
    if (!nla || !jobs.some((j) => j.sampling.samples > 0)) return { explanations, avMs: 0, arMs: 0 };
    const t0 = now();
    const groups = new Map<string, number[]>();
    jobs.forEach((job, i) => {
      if (job.sampling.samples <= 0) return;
      const s = job.sampling;
      const key = `${s.samples}|${s.temperature}|${s.maxNewTokens}|${s.seed ?? ''}`;
      groups.set(key, [...(groups.get(key) ?? []), i]);
    });
    const parsed: Array<Array<ReturnType<typeof parseExplanation>>> = jobs.map(() => []);
    for (const members of groups.values()) {
      const prompts: BuiltPrompt[] = members.map((i) => nla.builder.build(jobs[i].vector));
      const texts = await nla.av.generate(prompts, jobs[members[0]].sampling, signal);
      members.forEach((i, k) => (parsed[i] = texts[k].map((t) => parseExplanation(t, this.templateEndsWithOpenTag))));
    }
    const t1 = now();
    signal?.throwIfAborted();
    const items = parsed.flatMap((list, i) => list.map((p) => ({ text: p.text, vector: jobs[i].vector })));
    const cosines = items.length ? await nla.ar.cosines(items, signal) : [];
    const B = this.manifest.stats.B;
    let k = 0;
    parsed.forEach((list, i) => {
      explanations[i] = list.map((p) => ({ ...p, ar: arScoreFromCosine(cosines[k++], B) }));
    });
    return { explanations, avMs: t1 - t0, arMs: now() - t1 };
  }

  async analyzeBatch(requests: EngineRequest[], signal?: AbortSignal): Promise<Array<AnalyzeResponse | EngineError>> {
    const tStart = now();
    const results: Array<AnalyzeResponse | EngineError> = new Array(requests.length);
    // 1. Tokenize and validate each request on its own; a bad one gets its error in its slot.
    const live: Array<{ slot: number; tok: TokenizedPrompt; positions: number[]; sampling: SamplingOptions }> = [];
    requests.forEach((req, slot) => {
      try {
        const tok = this.tokenize(req.prompt, { specials: req.rendered_chat === true });
        const positions = (req.positions ?? [-1]).map((p) => this.resolvePosition(p, tok.ids.length));
        const sampling = this.samplingFor(req);
        if (sampling.samples > 0 && !this.nla) throw new EngineError(400, 'nla_unavailable', 'This worker has no NLA loaded; ask with nla_samples: 0.');
        live.push({ slot, tok, positions, sampling });
      } catch (err) {
        if (!(err instanceof EngineError)) throw err;
        results[slot] = err;
      }
    });
    if (live.length === 0) return results;
    const tTok = now();

    // 2. One subject pass for every prompt.
    signal?.throwIfAborted();
    const { hidden, T } = await this.forward(live.map((l) => l.tok.ids));
    const tSubject = now();

    // 3. One SAE pass over every requested position.
    const d = this.manifest.subject.dModel;
    const rows: Array<{ live: number; position: number }> = live.flatMap((l, li) => l.positions.map((position) => ({ live: li, position })));
    const xs = new Float32Array(rows.length * d);
    rows.forEach((r, i) => xs.set(hidden.subarray((r.live * T + r.position) * d, (r.live * T + r.position + 1) * d), i * d));
    const saeBlocks = await this.sae.analyze(
      xs,
      rows.map((_, i) => i),
      rows.map((r) => requests[live[r.live].slot].top_k),
      this.manifest.stats,
    );
    const tSae = now();

    // 4-5. AV generation and AR scoring for all positions that asked for explanations.
    signal?.throwIfAborted();
    const { explanations, avMs, arMs } = await this.verbalize(
      rows.map((r, i) => ({ vector: xs.slice(i * d, (i + 1) * d), sampling: live[r.live].sampling })),
      signal,
    );

    // Stage times are the shared passes' times; each response gets its own copy (the HTTP layer sets queue).
    const timings = {
      tokenize: round(tTok - tStart),
      subject: round(tSubject - tTok),
      sae: round(tSae - tSubject),
      av: round(avMs),
      ar: round(arMs),
      total: round(now() - tStart),
      queue: 0,
    };
    const m = this.manifest;
    live.forEach((l, li) => {
      const req = requests[l.slot];
      const positions: PositionResult[] = [];
      rows.forEach((r, i) => {
        if (r.live !== li) return;
        const { reconstruction: _r, ...block } = saeBlocks[i];
        const result: PositionResult = { position: r.position, token: l.tok.tokens[r.position].text, sae: block, explanations: explanations[i] };
        if (req.return_activations) result.activation = encodeActivation(xs.subarray(i * d, (i + 1) * d));
        positions.push(result);
      });
      results[l.slot] = { model: m.name, layer: m.subject.layer, d_model: m.subject.dModel, tokens: l.tok.tokens, positions, timings_ms: { ...timings } };
    });
    return results;
  }

  async describe(vectors: Float32Array[], sampling: SamplingOptions, signal?: AbortSignal): Promise<Explanation[][]> {
    if (!this.nla) throw new EngineError(503, 'nla_unavailable', 'This worker has no NLA loaded.');
    for (const v of vectors) checkActivation(v, this.manifest.subject.dModel);
    const { explanations } = await this.verbalize(vectors.map((vector) => ({ vector, sampling })), signal);
    return explanations;
  }

  async score(items: Array<{ text: string; vector: Float32Array }>): Promise<ArScore[]> {
    if (!this.nla) throw new EngineError(503, 'nla_unavailable', 'This worker has no NLA loaded.');
    for (const item of items) checkActivation(item.vector, this.manifest.subject.dModel);
    const cosines = await this.nla.ar.cosines(items);
    return cosines.map((c) => arScoreFromCosine(c, this.manifest.stats.B));
  }

  async countTokens(prompt: string): Promise<number> {
    return this.tokenize(prompt).ids.length;
  }

  async topkByToken(prompt: string, topK: number, ignoreBos: boolean): Promise<TopkByTokenResult> {
    const tok = this.tokenize(prompt);
    const { hidden } = await this.forward([tok.ids]);
    const first = ignoreBos && this.manifest.subject.bosTokenId !== null ? 1 : 0;
    const positions = Array.from({ length: tok.ids.length - first }, (_, i) => i + first);
    const codes = await this.sae.encode(hidden, positions);
    const results = positions.map((p, r) => ({
      token_position: p,
      token: tok.tokens[p].text,
      top_features: this.sae.topFeatures(codes, r, topK).map((f) => ({ feature_index: f.index, activation_value: f.activation })),
    }));
    return { tokens: tok.tokens.map((t) => t.text), results };
  }

  async close(): Promise<void> {
    if (this.nla) {
      await this.nla.av.close();
      await this.nla.ar.close();
    }
    await this.sae.close();
    await this.subject.release();
  }
}

export function createEngine(manifestPath: string, opts: EngineOptions = {}): Promise<RuntimeEngine> {
  return RuntimeEngine.create(manifestPath, opts);
}

