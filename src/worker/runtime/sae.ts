/**
 * A sparse autoencoder in SAELens's conventions. The encoder's dense matmul runs in
 * onnxruntime, all requested positions in one run (a 16k x 3840 Gemma Scope SAE is 63M
 * multiply-adds a position); the activation function and the decoder, which only touches the
 * active features, are plain loops.
 *
 * encode:  x' = norm_in(x);  x' -= b_dec (if apply_b_dec_to_input);  pre = x' W_enc + b_enc
 *          standard: relu(pre);  jumprelu: relu(pre) where pre > threshold;
 *          topk: pre *= ||W_dec_j|| (if rescale_acts_by_decoder_norm), keep top k, relu;
 *          gated: (x' W_enc + b_gate > 0) * relu(x' W_enc * exp(r_mag) + b_mag)
 * decode:  r = f W_dec + b_dec (f /= ||W_dec_j|| first when rescaled), then norm_out(r)
 *
 * expected_average_only_in multiplies x by the registry's factor s on the way in and divides
 * r by it on the way out: the same numbers as SAELens's folding of s into the weights.
 */
import type * as ortTypes from 'onnxruntime-node';
import type { SaeBlock, SaeFeature } from '../../protocol/analyze';
import { assertProviderInstalled, ort, type ExecutionProvider } from './execution';
import { loadLabels } from './labels';
import { linearOnnx } from './linear-graph';
import type { ModelStats } from './manifest';
import { cosine, fveNrmFromMse, mseNrmFromCosine } from './metrics';
import { readSaeWeights, type SaeConfig, type SaeWeights } from './sae-formats';

export type { SaeWeights } from './sae-formats';

export interface SaePositionResult extends SaeBlock {
  /** The reconstruction r, in the input's (raw) space. */
  reconstruction: Float32Array;
}

export interface SaeCodes {
  /** Dense feature activations [rows, dSae] (post activation function; zeros where inactive). */
  acts: Float32Array;
  /** Non-zero features per row. */
  l0: number[];
  /** Per-row normalization state, needed to decode back into the input's space. */
  norms: NormState[];
}

export class Sae {
  readonly dIn: number;
  readonly dSae: number;
  private readonly decNorm: Float32Array | null;
  private readonly idx: Int32Array;
  private readonly keep: Uint8Array;

  private constructor(
    readonly cfg: SaeConfig,
    private readonly w: SaeWeights,
    private readonly encoder: ortTypes.InferenceSession,
    private readonly labels: Map<number, string>,
  ) {
    this.dIn = cfg.dIn;
    this.dSae = cfg.dSae;
    this.idx = new Int32Array(cfg.dSae);
    this.keep = new Uint8Array(cfg.dSae);
    if (cfg.architecture === 'topk' && cfg.rescaleActsByDecoderNorm) {
      this.decNorm = new Float32Array(cfg.dSae);
      for (let j = 0; j < cfg.dSae; j++) {
        let sum = 0;
        for (let i = 0; i < cfg.dIn; i++) sum += w.wDec[j * cfg.dIn + i] ** 2;
        this.decNorm[j] = Math.sqrt(sum);
      }
    } else this.decNorm = null;
  }

  /** The encoder's dense matmul runs in onnxruntime (see linear-graph.ts); the rest is sparse. */
  static async create(cfg: SaeConfig, w: SaeWeights, labels: Map<number, string> = new Map(), provider: ExecutionProvider = 'cpu'): Promise<Sae> {
    assertProviderInstalled(provider);
    const graph = linearOnnx(w.wEnc, w.bEnc, cfg.dIn, cfg.dSae, { input: 'x', output: 'pre' });
    const encoder = await ort.InferenceSession.create(graph, { executionProviders: [provider], logSeverityLevel: 3, intraOpNumThreads: 1, interOpNumThreads: 1 });
    return new Sae(cfg, w, encoder, labels);
  }

  /** Weights and labels from files a loaded manifest has already checked. */
  static async load(cfg: SaeConfig, weightsFile: string, labelsFile: string | null, provider: ExecutionProvider = 'cpu'): Promise<Sae> {
    return Sae.create(cfg, readSaeWeights(cfg, weightsFile), labelsFile ? loadLabels(labelsFile, cfg.dSae) : new Map(), provider);
  }

  label(index: number): string {
    return this.labels.get(index) ?? '';
  }

  /** Encode rows `rows` of `xs` ([n, dIn]) in one encoder run. */
  async encode(xs: Float32Array, rows: number[]): Promise<SaeCodes> {
    const { dIn, dSae, w, cfg } = this;
    const N = rows.length;
    const xin = new Float32Array(N * dIn);
    const norms: NormState[] = [];
    rows.forEach((row, r) => {
      const x = xin.subarray(r * dIn, (r + 1) * dIn);
      x.set(xs.subarray(row * dIn, (row + 1) * dIn));
      const norm: NormState = { scale: 1, mean: 0 };
      applyNormIn(cfg, x, norm);
      if (cfg.applyBDecToInput) for (let i = 0; i < dIn; i++) x[i] -= w.bDec[i];
      norms.push(norm);
    });
    const out = await this.encoder.run({ x: new ort.Tensor('float32', xin, [N, dIn]) });
    const acts = out.pre.data as Float32Array;
    const l0 = rows.map((_, r) => this.activate(acts.subarray(r * dSae, (r + 1) * dSae)));
    return { acts, l0, norms };
  }

  /** The activation function, in place on one row of pre-activations; returns l0. */
  private activate(pre: Float32Array): number {
    const { dSae, cfg, w } = this;
    let l0 = 0;
    if (cfg.architecture === 'standard') {
      for (let j = 0; j < dSae; j++) {
        if (pre[j] > 0) l0++;
        else pre[j] = 0;
      }
    } else if (cfg.architecture === 'jumprelu') {
      const th = w.threshold!;
      for (let j = 0; j < dSae; j++) {
        if (pre[j] > th[j] && pre[j] > 0) l0++;
        else pre[j] = 0;
      }
    } else if (cfg.architecture === 'gated') {
      // pre is x W_enc alone (the encoder graph's bias is zero): one matmul feeds both paths.
      const { bGate, bMag, rMag } = w.gated!;
      for (let j = 0; j < dSae; j++) {
        const mag = pre[j] * Math.exp(rMag[j]) + bMag[j];
        if (pre[j] + bGate[j] > 0 && mag > 0) {
          pre[j] = mag;
          l0++;
        } else pre[j] = 0;
      }
    } else {
      if (this.decNorm) for (let j = 0; j < dSae; j++) pre[j] *= this.decNorm[j];
      const top = topIndices(pre, cfg.k!, this.idx);
      this.keep.fill(0);
      for (let t = 0; t < top; t++) {
        const j = this.idx[t];
        if (pre[j] > 0) {
          this.keep[j] = 1;
          l0++;
        }
      }
      for (let j = 0; j < dSae; j++) if (!this.keep[j]) pre[j] = 0;
    }
    return l0;
  }

  /** r = f W_dec + b_dec, then the inverse normalization; f is row `r` of `codes.acts`. */
  decode(codes: SaeCodes, r: number, out: Float32Array): void {
    const { dIn, dSae, w } = this;
    const acts = codes.acts.subarray(r * dSae, (r + 1) * dSae);
    out.set(w.bDec);
    for (let j = 0; j < dSae; j++) {
      let a = acts[j];
      if (a === 0) continue;
      if (this.decNorm) a /= this.decNorm[j];
      const base = j * dIn;
      for (let i = 0; i < dIn; i++) out[i] += a * w.wDec[base + i];
    }
    applyNormOut(this.cfg, out, codes.norms[r]);
  }

  /**
   * Top features, l0, explained variance and fve_nrm for rows `rows` of `xs` [n, dIn], in one
   * encoder run. `topK` may differ per row. explained_variance = 1 - ||x - r||^2 /
   * raw_total_variance (SAELens's definition, per position); fve_nrm = 1 - 2(1 - cos(r, x)) / B.
   */
  async analyze(xs: Float32Array, rows: number[], topK: number | number[], stats: Pick<ModelStats, 'B' | 'rawTotalVariance'>): Promise<SaePositionResult[]> {
    const codes = await this.encode(xs, rows);
    return rows.map((row, r) => {
      const recon = new Float32Array(this.dIn);
      this.decode(codes, r, recon);
      let err = 0;
      const off = row * this.dIn;
      for (let i = 0; i < this.dIn; i++) err += (xs[off + i] - recon[i]) ** 2;
      const cos = cosine(recon, xs, this.dIn, 0, off);
      return {
        features: this.topFeatures(codes, r, Array.isArray(topK) ? topK[r] : topK),
        l0: codes.l0[r],
        explained_variance: 1 - err / stats.rawTotalVariance,
        fve_nrm: fveNrmFromMse(mseNrmFromCosine(cos), stats.B),
        reconstruction: recon,
      };
    });
  }

  /** Top-k non-zero features of row `r`, strongest first (ties: lower index first). */
  topFeatures(codes: SaeCodes, r: number, topK: number): SaeFeature[] {
    const acts = codes.acts.subarray(r * this.dSae, (r + 1) * this.dSae);
    const n = topIndices(acts, topK, this.idx);
    const out: SaeFeature[] = [];
    for (let t = 0; t < n; t++) {
      const j = this.idx[t];
      if (acts[j] <= 0) break;
      out.push({ index: j, activation: acts[j], label: this.label(j) });
    }
    return out;
  }

  async close(): Promise<void> {
    await this.encoder.release();
  }
}

export interface NormState {
  /** Multiplier applied on the way in (undone on the way out). */
  scale: number;
  /** layer_norm's mean. */
  mean: number;
}

function applyNormIn(cfg: SaeConfig, x: Float32Array, s: NormState): void {
  s.scale = 1;
  s.mean = 0;
  const d = x.length;
  if (cfg.normalizeActivations === 'constant_norm_rescale') {
    let n = 0;
    for (let i = 0; i < d; i++) n += x[i] * x[i];
    s.scale = n > 0 ? Math.sqrt(d) / Math.sqrt(n) : 1;
  } else if (cfg.normalizeActivations === 'expected_average_only_in') {
    s.scale = cfg.scalingFactor ?? 1;
  } else if (cfg.normalizeActivations === 'layer_norm') {
    // SAELens: x - mean, divided by (unbiased std + 1e-5)
    let mean = 0;
    for (let i = 0; i < d; i++) mean += x[i];
    mean /= d;
    let v = 0;
    for (let i = 0; i < d; i++) v += (x[i] - mean) ** 2;
    const std = Math.sqrt(v / (d - 1));
    s.mean = mean;
    s.scale = 1 / (std + 1e-5);
    for (let i = 0; i < d; i++) x[i] = (x[i] - mean) * s.scale;
    return;
  }
  if (s.scale !== 1) for (let i = 0; i < d; i++) x[i] *= s.scale;
}

function applyNormOut(cfg: SaeConfig, r: Float32Array, s: NormState): void {
  if (s.scale === 1 && s.mean === 0) return;
  const inv = 1 / s.scale;
  for (let i = 0; i < r.length; i++) r[i] = r[i] * inv + s.mean;
}

/**
 * Indices of the k largest values of `v`, sorted descending (ties by index), into `out`.
 * A partial selection: one pass keeping a sorted top-k list, O(n k) with tiny k.
 */
export function topIndices(v: Float32Array, k: number, out: Int32Array): number {
  const n = Math.min(k, v.length);
  let size = 0;
  for (let j = 0; j < v.length; j++) {
    const x = v[j];
    if (size === n && x <= v[out[size - 1]]) continue;
    let p = size < n ? size++ : size - 1;
    while (p > 0 && v[out[p - 1]] < x) {
      out[p] = out[p - 1];
      p--;
    }
    out[p] = j;
  }
  return size;
}
