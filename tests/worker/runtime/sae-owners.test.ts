/**
 * SAE folders as their owners write them (tests/fixtures/sae-owners, made by generate.py there,
 * which cites each layout's source): for every architecture, Confab's feature activations equal a
 * straightforward reimplementation of the owner's encode() on the same residual vectors.
 *
 * The reference encoders below restate SAELens 6.18.0 (jbloomAus/SAELens @ 91ca16cc) in float64,
 * on the weights as plain numbers from reference.json, independent of Confab's file readers.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadLabels } from '../../../src/worker/runtime/labels';
import { Sae } from '../../../src/worker/runtime/sae';
import { loadSaeFolder, type SaeArchitecture } from '../../../src/worker/runtime/sae-formats';

const FIXTURES = path.resolve(__dirname, '../../fixtures/sae-owners');
const D_IN = 8;
const D_SAE = 12;

interface Reference {
  dtype: 'float32' | 'float64';
  x: number[][];
  weights: Record<string, number[]>;
  norm_scaling_factor?: number;
}
const REFERENCE = JSON.parse(readFileSync(path.join(FIXTURES, 'reference.json'), 'utf8')) as Record<string, Reference>;

/** The owner's reading of each folder: what SAELens (or Gemma Scope's loader) runs. */
const OWNERS: { name: string; arch: SaeArchitecture; applyBDec: boolean; k?: number; rescale?: boolean }[] = [
  { name: 'saelens-6-standard', arch: 'standard', applyBDec: true },
  { name: 'saelens-6-jumprelu', arch: 'jumprelu', applyBDec: true },
  { name: 'saelens-6-topk', arch: 'topk', applyBDec: true, k: 3, rescale: true },
  { name: 'saelens-6-gated', arch: 'gated', applyBDec: true },
  { name: 'saelens-6-float64', arch: 'standard', applyBDec: true },
  { name: 'saelens-5-topk', arch: 'topk', applyBDec: true, k: 3, rescale: false },
  { name: 'saelens-5-expected-average', arch: 'standard', applyBDec: true },
  { name: 'saelens-3-bool-normalize', arch: 'standard', applyBDec: true },
  { name: 'gemma-scope-npz', arch: 'jumprelu', applyBDec: false },
  { name: 'gemma-scope-npz-compressed', arch: 'jumprelu', applyBDec: false },
  { name: 'gemma-scope-safetensors', arch: 'jumprelu', applyBDec: false },
  { name: 'gemma-scope-2-safetensors', arch: 'jumprelu', applyBDec: false },
];

type W = Record<string, number[]>;

/** x @ M for M [rows, cols] row-major. */
function matvec(x: number[], m: number[], cols: number): number[] {
  const out = new Array<number>(cols).fill(0);
  x.forEach((xi, i) => {
    for (let j = 0; j < cols; j++) out[j] += xi * m[i * cols + j];
  });
  return out;
}

const decoderNorms = (w: W) => Array.from({ length: D_SAE }, (_, j) => Math.hypot(...w.W_dec.slice(j * D_IN, (j + 1) * D_IN)));

/**
 * The owner's encode, step by step:
 * - process_sae_in: x - b_dec * apply_b_dec_to_input (sae_lens/saes/sae.py L452-473);
 * - standard: relu(sae_in @ W_enc + b_enc) (saes/standard_sae.py L57-68);
 * - jumprelu: relu(pre) * (pre > threshold) (saes/jumprelu_sae.py L133-151);
 * - topk: pre * ||W_dec_j|| when rescale_acts_by_decoder_norm (saes/topk_sae.py L238-250), then
 *   torch.topk, relu, scatter (topk_sae.py L60-115);
 * - gated: (sae_in @ W_enc + b_gate > 0) * relu(sae_in @ (W_enc * exp(r_mag)) + b_mag)
 *   (saes/gated_sae.py L52-73).
 */
function ownerEncode(o: (typeof OWNERS)[number], w: W, x: number[]): number[] {
  const saeIn = x.map((v, i) => v - (o.applyBDec ? w.b_dec[i] : 0));
  if (o.arch === 'gated') {
    const gate = matvec(saeIn, w.W_enc, D_SAE).map((v, j) => v + w.b_gate[j]);
    const scaled = w.W_enc.map((v, idx) => v * Math.exp(w.r_mag[idx % D_SAE]));
    const mag = matvec(saeIn, scaled, D_SAE).map((v, j) => v + w.b_mag[j]);
    return mag.map((m, j) => (gate[j] > 0 ? 1 : 0) * Math.max(m, 0));
  }
  let pre = matvec(saeIn, w.W_enc, D_SAE).map((v, j) => v + w.b_enc[j]);
  if (o.arch === 'standard') return pre.map((v) => Math.max(v, 0));
  if (o.arch === 'jumprelu') return pre.map((v, j) => Math.max(v, 0) * (v > w.threshold[j] ? 1 : 0));
  if (o.rescale) pre = pre.map((v, j) => v * decoderNorms(w)[j]);
  const top = pre.map((v, j) => [v, j]).sort((a, b) => b[0] - a[0]).slice(0, o.k);
  const out = new Array<number>(D_SAE).fill(0);
  for (const [v, j] of top) out[j] = Math.max(v, 0);
  return out;
}

/** decode: f @ W_dec + b_dec (standard_sae.py L77-84), f / ||W_dec_j|| first when rescaled (topk_sae.py L262-263). */
function ownerDecode(o: (typeof OWNERS)[number], w: W, f: number[]): number[] {
  const norms = o.rescale ? decoderNorms(w) : null;
  return matvec(norms ? f.map((v, j) => v / norms[j]) : f, w.W_dec, D_IN).map((v, i) => v + w.b_dec[i]);
}

/**
 * SAELens's from_pretrained folds the registry's norm_scaling_factor into the weights (sae.py
 * L673-683 calling fold_activation_norm_scaling_factor, L287-291): W_enc * s, W_dec / s, b_dec / s.
 */
function fold(w: W, s: number): W {
  return { ...w, W_enc: w.W_enc.map((v) => v * s), W_dec: w.W_dec.map((v) => v / s), b_dec: w.b_dec.map((v) => v / s) };
}

function referenceWeights(ref: Reference): W {
  const narrow = ref.dtype === 'float32' ? Math.fround : (v: number) => v;
  return Object.fromEntries(Object.entries(ref.weights).map(([k, v]) => [k, v.map(narrow)]));
}

function expectClose(actual: ArrayLike<number>, expected: number[], what: string): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const tol = 1e-5 + 1e-4 * Math.abs(expected[i]);
    if (Math.abs(actual[i] - expected[i]) > tol) throw new Error(`${what}[${i}]: ${actual[i]} against the owner's ${expected[i]}`);
  }
}

describe("SAE folders as their owners write them: Confab's activations equal the owner's encode()", () => {
  for (const o of OWNERS) {
    it(`${o.name}: ${o.arch}`, async () => {
      const ref = REFERENCE[o.name];
      const { cfg, weights } = loadSaeFolder(path.join(FIXTURES, o.name), { normScalingFactor: ref.norm_scaling_factor });
      expect(cfg).toMatchObject({ architecture: o.arch, dIn: D_IN, dSae: D_SAE, applyBDecToInput: o.applyBDec, k: o.k ?? null });
      if (o.rescale !== undefined) expect(cfg.rescaleActsByDecoderNorm).toBe(o.rescale);
      const sae = await Sae.load(cfg, weights, null);
      const w = ref.norm_scaling_factor ? fold(referenceWeights(ref), ref.norm_scaling_factor) : referenceWeights(ref);
      const xs = Float32Array.from(ref.x.flat().map(Math.fround));
      const rows = ref.x.map((_, r) => r);
      const codes = await sae.encode(xs, rows);
      const results = await sae.analyze(xs, rows, D_SAE, { B: 1, rawTotalVariance: 1 });
      let active = 0;
      rows.forEach((r) => {
        const x = Array.from(xs.subarray(r * D_IN, (r + 1) * D_IN));
        const f = ownerEncode(o, w, x);
        expectClose(codes.acts.subarray(r * D_SAE, (r + 1) * D_SAE), f, `${o.name} row ${r} acts`);
        expect(codes.l0[r]).toBe(f.filter((v) => v > 0).length);
        expectClose(results[r].reconstruction, ownerDecode(o, w, f), `${o.name} row ${r} reconstruction`);
        active += codes.l0[r];
      });
      // the fixture exercises the activation function: some features fire, some do not
      expect(active).toBeGreaterThan(0);
      expect(active).toBeLessThan(rows.length * D_SAE);
      await sae.close();
    });
  }

  it('an expected_average_only_in SAE run without its factor would differ: the factor is what makes it match', async () => {
    const o = OWNERS.find((x) => x.name === 'saelens-5-expected-average')!;
    const ref = REFERENCE[o.name];
    const x = ref.x[0].map(Math.fround);
    const folded = ownerEncode(o, fold(referenceWeights(ref), ref.norm_scaling_factor!), x);
    const raw = ownerEncode(o, referenceWeights(ref), x);
    expect(raw.filter((v) => v > 0).length === folded.filter((v) => v > 0).length && raw.every((v, j) => Math.abs(v - folded[j]) < 1e-3)).toBe(false);
  });

  it("Neuronpedia's explanation export (gzipped JSON Lines in batches) gives one label per feature, the first in export order", () => {
    const labels = loadLabels(path.join(FIXTURES, 'neuronpedia-export/tiny-model/3-tiny-res-12'), D_SAE);
    expect(labels.size).toBe(D_SAE);
    expect(labels.get(0)).toBe(' feature 0 fires on tiny tokens');
    expect(labels.get(11)).toBe(' feature 11 fires on tiny tokens');
    expect(labels.get(4)).toBe(' feature 4 fires on tiny tokens');
    // the explanations folder itself, and a single batch file, read the same way
    const folder = loadLabels(path.join(FIXTURES, 'neuronpedia-export/tiny-model/3-tiny-res-12/explanations'), D_SAE);
    expect([...folder]).toEqual([...labels]);
    const one = loadLabels(path.join(FIXTURES, 'neuronpedia-export/tiny-model/3-tiny-res-12/explanations/batch-0.jsonl.gz'));
    expect(one.size).toBe(4);
  });
});
