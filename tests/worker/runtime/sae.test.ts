import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSaeFolder, type SaeConfig } from '../../../src/worker/runtime/sae-formats';
import { Sae, topIndices, type SaeWeights } from '../../../src/worker/runtime/sae';
import { encodeSafetensors } from '../../../src/worker/runtime/safetensors';

const names = { wEnc: 'W_enc', bEnc: 'b_enc', wDec: 'W_dec', bDec: 'b_dec', threshold: 'threshold' };
function cfg(over: Partial<SaeConfig>): SaeConfig {
  return {
    architecture: 'standard', dIn: 2, dSae: 3, k: null, applyBDecToInput: true, normalizeActivations: 'none',
    rescaleActsByDecoderNorm: false, scalingFactor: null, tensorNames: names, ...over,
  };
}
// Hand-worked example: x = [1.5, 0.5], b_dec = [0.5, -0.5] so x - b_dec = [1, 1];
// pre = [1, 1] W_enc + b_enc = [1, 2 - 1, -1 + 1 + 0.5] = [1, 1, 0.5].
const weights: SaeWeights = {
  wEnc: Float32Array.from([1, 0, -1, 0, 2, 1]),
  bEnc: Float32Array.from([0, -1, 0.5]),
  wDec: Float32Array.from([1, 0, 0, 1, 1, 1]),
  bDec: Float32Array.from([0.5, -0.5]),
  threshold: Float32Array.from([0.5, 1.5, 0.2]),
};
const x = Float32Array.from([1.5, 0.5]);
const stats = { B: 0.5, rawTotalVariance: 2 };
const labels = new Map([[0, 'zero'], [1, 'one'], [2, 'two']]);
const identity: SaeWeights = { wEnc: Float32Array.from([1, 0, 0, 1]), bEnc: new Float32Array(2), wDec: Float32Array.from([1, 0, 0, 1]), bDec: new Float32Array(2), threshold: null };
const id2 = (over: Partial<SaeConfig>) => cfg({ dSae: 2, applyBDecToInput: false, ...over });

describe('SAE encode/decode (hand-computed)', () => {
  it('standard: relu(pre), r = f W_dec + b_dec, explained variance and fve_nrm', async () => {
    const [res] = await (await Sae.create(cfg({}), weights, labels)).analyze(x, [0], 8, stats);
    expect(res.features).toEqual([
      { index: 0, activation: 1, label: 'zero' },
      { index: 1, activation: 1, label: 'one' },
      { index: 2, activation: 0.5, label: 'two' },
    ]);
    expect(res.l0).toBe(3);
    expect(Array.from(res.reconstruction)).toEqual([2, 1]);
    // ||x - r||^2 = 0.5; V = 2
    expect(res.explained_variance).toBeCloseTo(0.75, 6);
    const cos = 3.5 / Math.sqrt(5 * 2.5);
    expect(res.fve_nrm).toBeCloseTo(1 - (2 * (1 - cos)) / 0.5, 6);
  });

  it('jumprelu: keeps pre only above its threshold', async () => {
    const [res] = await (await Sae.create(cfg({ architecture: 'jumprelu' }), weights)).analyze(x, [0], 8, stats);
    expect(res.features.map((f) => [f.index, f.activation])).toEqual([[0, 1], [2, 0.5]]);
    expect(Array.from(res.reconstruction)).toEqual([2, 0]);
  });

  it('topk: keeps the k largest (ties to the lower index) and reconstructs x exactly here', async () => {
    const [res] = await (await Sae.create(cfg({ architecture: 'topk', k: 2 }), weights)).analyze(x, [0], 8, stats);
    expect(res.features.map((f) => f.index)).toEqual([0, 1]);
    expect(res.l0).toBe(2);
    expect(Array.from(res.reconstruction)).toEqual([1.5, 0.5]);
    expect(res.explained_variance).toBeCloseTo(1, 6);
    expect(res.fve_nrm).toBeCloseTo(1, 6);
  });

  it('topk with rescale_acts_by_decoder_norm ranks by pre * ||W_dec_j|| and divides it back out', async () => {
    const w = { ...weights, wDec: Float32Array.from([1, 0, 0, 1, 2, 2]) };
    const [res] = await (await Sae.create(cfg({ architecture: 'topk', k: 1, rescaleActsByDecoderNorm: true }), w)).analyze(x, [0], 8, stats);
    expect(res.features[0].index).toBe(2);
    expect(res.features[0].activation).toBeCloseTo(0.5 * Math.sqrt(8), 5);
    expect(res.reconstruction[0]).toBeCloseTo(1.5, 5);
    expect(res.reconstruction[1]).toBeCloseTo(0.5, 5);
  });

  it('constant_norm_rescale: encodes sqrt(d) x / ||x|| and decodes back', async () => {
    const [res] = await (await Sae.create(id2({ normalizeActivations: 'constant_norm_rescale' }), identity)).analyze(Float32Array.from([3, 4]), [0], 2, stats);
    expect(res.features[0].activation).toBeCloseTo((4 * Math.SQRT2) / 5, 5);
    expect(res.features[1].activation).toBeCloseTo((3 * Math.SQRT2) / 5, 5);
    expect(res.reconstruction[0]).toBeCloseTo(3, 5);
    expect(res.reconstruction[1]).toBeCloseTo(4, 5);
  });

  it('layer_norm: (x - mean) / (unbiased std + 1e-5), inverted on decode', async () => {
    // x = [1, 3]: mean 2, std sqrt(2); normalized [-0.7071, 0.7071]; relu drops the first.
    const [res] = await (await Sae.create(id2({ normalizeActivations: 'layer_norm' }), identity)).analyze(Float32Array.from([1, 3]), [0], 2, stats);
    expect(res.features).toHaveLength(1);
    expect(res.features[0].activation).toBeCloseTo(1 / Math.SQRT2, 4);
    expect(res.reconstruction[0]).toBeCloseTo(2, 4);
    expect(res.reconstruction[1]).toBeCloseTo(3, 4);
  });

  it('expected_average_only_in: multiplies by the cfg scaling factor and divides on decode', async () => {
    const [res] = await (await Sae.create(id2({ normalizeActivations: 'expected_average_only_in', scalingFactor: 2 }), identity)).analyze(Float32Array.from([1, 2]), [0], 2, stats);
    expect(res.features.map((f) => f.activation)).toEqual([4, 2]);
    expect(Array.from(res.reconstruction)).toEqual([1, 2]);
  });

  it('analyzes several positions in one run, each as if alone, with its own top_k', async () => {
    const sae = await Sae.create(cfg({ architecture: 'topk', k: 2 }), weights);
    const xs = Float32Array.from([9, 9, 1.5, 0.5, -3, 2]);
    const both = await sae.analyze(xs, [1, 2], [3, 1], stats);
    expect(both[0]).toEqual((await sae.analyze(x, [0], 3, stats))[0]);
    expect(both[1]).toEqual((await sae.analyze(Float32Array.from([-3, 2]), [0], 1, stats))[0]);
    expect(both[1].features).toHaveLength(1);
  });

  it('a wide SAE (8192 x 256) agrees with a direct float64 computation', async () => {
    const dIn = 256;
    const dSae = 8192;
    const r = (seed: number) => {
      let a = seed;
      return () => ((a = (a * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5);
    };
    const g = r(3);
    const w: SaeWeights = {
      wEnc: Float32Array.from({ length: dIn * dSae }, g),
      bEnc: Float32Array.from({ length: dSae }, g),
      wDec: Float32Array.from({ length: dSae * dIn }, g),
      bDec: Float32Array.from({ length: dIn }, g),
      threshold: Float32Array.from({ length: dSae }, () => 1.5),
    };
    const sae = await Sae.create(cfg({ architecture: 'jumprelu', dIn, dSae, applyBDecToInput: false }), w);
    const xv = Float32Array.from({ length: dIn }, g);
    const [res] = await sae.analyze(xv, [0], 5, { B: 1, rawTotalVariance: 1 });
    const pre = new Float64Array(dSae);
    for (let j = 0; j < dSae; j++) {
      let sum = w.bEnc[j];
      for (let i = 0; i < dIn; i++) sum += xv[i] * w.wEnc[i * dSae + j];
      pre[j] = sum;
    }
    const expected = Array.from(pre.keys()).filter((j) => pre[j] > 1.5).sort((a, b) => pre[b] - pre[a]);
    expect(res.l0).toBe(expected.length);
    expect(res.features.map((f) => f.index)).toEqual(expected.slice(0, 5));
    res.features.forEach((f) => expect(f.activation).toBeCloseTo(pre[f.index], 3));
  });

  it('topIndices selects in descending order', async () => {
    const out = new Int32Array(5);
    expect(topIndices(Float32Array.from([0.1, 5, -1, 5, 3]), 3, out)).toBe(3);
    expect(Array.from(out.slice(0, 3))).toEqual([1, 3, 4]);
  });
});

describe('SAE folders', () => {
  it('reads Gemma Scope params.safetensors (w_enc, w_dec, threshold) as jumprelu without b_dec subtraction', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'confab-gs-'));
    writeFileSync(
      path.join(dir, 'params.safetensors'),
      encodeSafetensors({
        w_enc: { shape: [2, 3], data: weights.wEnc },
        w_dec: { shape: [3, 2], data: weights.wDec },
        b_enc: { shape: [3], data: weights.bEnc },
        b_dec: { shape: [2], data: weights.bDec },
        threshold: { shape: [3], data: weights.threshold! },
      }),
    );
    const { cfg: c, weights: file } = loadSaeFolder(dir);
    expect(c).toMatchObject({ architecture: 'jumprelu', dIn: 2, dSae: 3, applyBDecToInput: false });
    const [res] = await (await Sae.load(c, file, null)).analyze(Float32Array.from([1, 1]), [0], 3, stats);
    // no b_dec subtraction: pre = [1, 1, 0.5] as in the worked example
    expect(res.features.map((f) => [f.index, f.activation])).toEqual([[0, 1], [2, 0.5]]);
  });
});
