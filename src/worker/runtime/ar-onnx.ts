/**
 * AR backend `onnx`: explanation text -> reconstructed activation, batched.
 *
 * Texts of different lengths share one run: right padding plus `attention_mask`; the graph reads
 * the vector at the last non-pad token. The prompt's ids come from `ArPrompt` (the template with
 * the tokenizer's special tokens, as the release tokenizes it), checked at start against the
 * sidecar's `critic_suffix_ids`.
 */
import type * as ortTypes from 'onnxruntime-node';
import { EngineError } from '../engine';
import { ArPrompt } from './ar-prompt';
import type { ArBackend, ArItem } from './av-backend';
import { createSession, ort, requireNames, type ExecutionProvider } from './execution';
import { cosine } from './metrics';
import type { ArBackendContext } from './registry';
import type { Tokenizer } from './tokenizer';

export class OnnxArBackend implements ArBackend {
  readonly name = 'onnx';
  private constructor(
    private readonly session: ortTypes.InferenceSession,
    private readonly prompt: ArPrompt,
    readonly dModel: number,
  ) {}

  static async open(opts: {
    onnx: string;
    tokenizer: Tokenizer;
    template: string;
    maxTokens: number;
    dModel: number;
    provider: ExecutionProvider;
    /** The sidecar's critic_suffix_ids and the sidecar file, for the start-up check. */
    suffixCheck?: { ids: number[] | null; sidecar: string };
  }): Promise<OnnxArBackend> {
    const prompt = ArPrompt.build(opts.tokenizer, opts.template, opts.maxTokens);
    if (opts.suffixCheck) prompt.checkSuffix(opts.suffixCheck.ids, opts.suffixCheck.sidecar);
    const session = await createSession(opts.onnx, opts.provider);
    requireNames(session, opts.onnx, ['input_ids', 'attention_mask'], ['vector']);
    return new OnnxArBackend(session, prompt, opts.dModel);
  }

  static fromContext(ctx: ArBackendContext): Promise<OnnxArBackend> {
    const maxTokens = typeof ctx.spec.options.max_context === 'number' ? ctx.spec.options.max_context : ctx.manifest.subject.maxTokens;
    return OnnxArBackend.open({
      onnx: ctx.spec.onnx!,
      tokenizer: ctx.tokenizer,
      template: ctx.spec.meta.arTemplate,
      maxTokens,
      dModel: ctx.manifest.subject.dModel,
      provider: ctx.executionProvider,
      suffixCheck: { ids: ctx.spec.meta.criticSuffixIds, sidecar: ctx.spec.meta.file },
    });
  }

  /** Token ids the AR sees for `text`. */
  inputIds(text: string): number[] {
    return this.prompt.ids(text);
  }

  async vectors(texts: string[], signal?: AbortSignal): Promise<Float32Array[]> {
    if (texts.length === 0) return [];
    const seqs = texts.map((t) => this.inputIds(t));
    const B = seqs.length;
    const T = Math.max(1, ...seqs.map((s) => s.length));
    const ids = new BigInt64Array(B * T);
    const mask = new BigInt64Array(B * T);
    seqs.forEach((s, b) => {
      for (let t = 0; t < s.length; t++) {
        ids[b * T + t] = BigInt(s[t]);
        mask[b * T + t] = 1n;
      }
    });
    signal?.throwIfAborted();
    const out = await this.session.run({
      input_ids: new ort.Tensor('int64', ids, [B, T]),
      attention_mask: new ort.Tensor('int64', mask, [B, T]),
    });
    const v = out.vector.data as Float32Array;
    const d = out.vector.dims[1];
    if (d !== this.dModel) throw new EngineError(500, 'bad_model', `The AR graph returned vectors of width ${d}; d_model is ${this.dModel}.`);
    return seqs.map((_, b) => v.slice(b * d, (b + 1) * d));
  }

  async cosines(items: ArItem[], signal?: AbortSignal): Promise<number[]> {
    const vs = await this.vectors(items.map((i) => i.text), signal);
    return vs.map((r, i) => cosine(r, items[i].vector));
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
