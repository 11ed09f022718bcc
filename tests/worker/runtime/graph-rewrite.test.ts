import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { REFERENCE_MODELS } from '../../../src/config';
import { keepBatchRows, TimeMajorCache } from '../../../src/worker/runtime/av-onnx';
import {
  appendableKvCache,
  cacheInputName,
  cacheStepOutputName,
  kvInputName,
  kvOutputName,
  pruneToOutputs,
  splitKvCache,
} from '../../../src/worker/runtime/graph-rewrite';
import { linearOnnx } from '../../../src/worker/runtime/linear-graph';

const dir = path.dirname(REFERENCE_MODELS);
const options: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], logSeverityLevel: 3, intraOpNumThreads: 1, graphOptimizationLevel: 'all' };
const wave = (n: number, f: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * f) * 0.7);

describe('per-layer KV cache rewrite of the AV decoder', () => {
  it('gives bit-identical logits and cache to the stacked graph, for prefill and a decode step', async () => {
    const exported = readFileSync(path.join(dir, 'nla/av/decoder.onnx'));
    const split = splitKvCache(exported);
    expect(split).not.toBeNull();
    const stacked = await ort.InferenceSession.create(exported, options);
    const session = await ort.InferenceSession.create(split!.model, options);
    const nLayer = split!.nLayer;
    expect(nLayer).toBe(4); // the reference AV's blocks
    expect(session.inputNames).toEqual(['inputs_embeds', ...Array.from({ length: nLayer }, (_, l) => [kvInputName(l, 0), kvInputName(l, 1)]).flat()]);
    const [nHead, headDim, d] = [4, 32, 128];
    for (const [B, T, P] of [[2, 5, 0], [3, 1, 7]]) {
      const embeds = new ort.Tensor('float32', wave(B * T * d, 0.37), [B, T, d]);
      const pastData = wave(nLayer * 2 * B * nHead * P * headDim, 0.11);
      const block = B * nHead * P * headDim;
      const feeds: Record<string, ort.Tensor> = { inputs_embeds: embeds };
      for (let l = 0; l < nLayer; l++) {
        for (const w of [0, 1] as const) feeds[kvInputName(l, w)] = new ort.Tensor('float32', pastData.slice((l * 2 + w) * block, (l * 2 + w + 1) * block), [B, nHead, P, headDim]);
      }
      const want = await stacked.run({ inputs_embeds: embeds, past: new ort.Tensor('float32', pastData, [nLayer, 2, B, nHead, P, headDim]) });
      const got = await session.run(feeds);
      expect(Array.from(got.logits.data as Float32Array)).toEqual(Array.from(want.logits.data as Float32Array));
      const out = B * nHead * (P + T) * headDim;
      for (let l = 0; l < nLayer; l++) {
        for (const w of [0, 1] as const) {
          const t = got[kvOutputName(l, w)];
          expect(t.dims).toEqual([B, nHead, P + T, headDim]);
          expect(Array.from(t.data as Float32Array)).toEqual(Array.from((want.present.data as Float32Array).subarray((l * 2 + w) * out, (l * 2 + w + 1) * out)));
        }
      }
    }
    await stacked.release();
    await session.release();
  });

  it('leaves a graph without a stacked past/present alone', () => {
    const graph = linearOnnx(new Float32Array(6), new Float32Array(3), 2, 3);
    expect(splitKvCache(graph)).toBeNull();
    expect(splitKvCache(new Uint8Array([0xff, 0xff]))).toBeNull();
  });

  it('compacts a per-layer cache [B, n_head, P, head_dim] on its batch axis', () => {
    // value = 10 b + h + p / 10
    const data = Float32Array.from({ length: 3 * 2 * 2 }, (_, i) => 10 * Math.floor(i / 4) + (Math.floor(i / 2) % 2) + (i % 2) / 10);
    const kept = keepBatchRows(new ort.Tensor('float32', data, [3, 2, 2, 1]), [2, 0], 0);
    expect(kept.dims).toEqual([2, 2, 2, 1]);
    expect(Array.from(kept.data as Float32Array).map((x) => +x.toFixed(1))).toEqual([20, 20.1, 21, 21.1, 0, 0.1, 1, 1.1]);
  });
});

describe('time-major cache the backend grows in place', () => {
  it('gives bit-identical logits, and returns exactly the rows the per-layer graph appends', async () => {
    const split = splitKvCache(readFileSync(path.join(dir, 'nla/av/decoder.onnx')))!;
    const appendable = appendableKvCache(split.model, split.nLayer);
    expect(appendable).not.toBeNull();
    const perLayer = await ort.InferenceSession.create(split.model, options);
    const session = await ort.InferenceSession.create(appendable!, options);
    const nLayer = split.nLayer;
    expect(session.inputNames).toEqual(['inputs_embeds', ...Array.from({ length: nLayer }, (_, l) => [cacheInputName(l, 0), cacheInputName(l, 1)]).flat()]);
    expect(session.outputNames).toEqual(['logits', ...Array.from({ length: nLayer }, (_, l) => [cacheStepOutputName(l, 0), cacheStepOutputName(l, 1)]).flat()]);
    const [nHead, headDim, d] = [4, 32, 128];
    for (const [B, T, P] of [[2, 5, 0], [3, 1, 7], [16, 1, 40]]) {
      const embeds = new ort.Tensor('float32', wave(B * T * d, 0.37), [B, T, d]);
      const want: Record<string, ort.Tensor> = { inputs_embeds: embeds };
      const feeds: Record<string, ort.Tensor> = { inputs_embeds: embeds };
      for (let l = 0; l < nLayer; l++) {
        for (const w of [0, 1] as const) {
          const bhpd = wave(B * nHead * P * headDim, 0.11 + 0.01 * l + 0.003 * w);
          want[kvInputName(l, w)] = new ort.Tensor('float32', bhpd, [B, nHead, P, headDim]);
          const pbhd = new Float32Array(bhpd.length);
          for (let b = 0; b < B; b++) for (let h = 0; h < nHead; h++) for (let p = 0; p < P; p++) for (let k = 0; k < headDim; k++) pbhd[((p * B + b) * nHead + h) * headDim + k] = bhpd[((b * nHead + h) * P + p) * headDim + k];
          feeds[cacheInputName(l, w)] = new ort.Tensor('float32', pbhd, [P, B, nHead, headDim]);
        }
      }
      const a = await perLayer.run(want);
      const got = await session.run(feeds);
      expect(Array.from(got.logits.data as Float32Array)).toEqual(Array.from(a.logits.data as Float32Array));
      for (let l = 0; l < nLayer; l++) {
        for (const w of [0, 1] as const) {
          const present = a[kvOutputName(l, w)].data as Float32Array;
          const rows = got[cacheStepOutputName(l, w)];
          expect(rows.dims).toEqual([T, B, nHead, headDim]);
          const expected = new Float32Array(T * B * nHead * headDim);
          for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) for (let h = 0; h < nHead; h++) for (let k = 0; k < headDim; k++) expected[((t * B + b) * nHead + h) * headDim + k] = present[((b * nHead + h) * (P + T) + P + t) * headDim + k];
          expect(Array.from(rows.data as Float32Array)).toEqual(Array.from(expected));
        }
      }
    }
    await perLayer.release();
    await session.release();
  });

  it('leaves a graph that is not the per-layer layout alone', () => {
    const stacked = readFileSync(path.join(dir, 'nla/av/decoder.onnx'));
    expect(appendableKvCache(stacked, 4)).toBeNull();
    expect(appendableKvCache(linearOnnx(new Float32Array(6), new Float32Array(3), 2, 3), 1)).toBeNull();
  });

  it('appends steps, exposes the cached positions without a copy, and drops batch rows in place', () => {
    // 3 batch rows, 1 head of size 2; value = 100 t + 10 b + k
    const cache = new TimeMajorCache(4, 3, 1, 2);
    const step = (t: number, B: number, rows: number[]) => Float32Array.from(rows.flatMap((b) => [100 * t + 10 * b, 100 * t + 10 * b + 1]).slice(0, B * 2));
    cache.append(Float32Array.from([...step(0, 3, [0, 1, 2]), ...step(1, 3, [0, 1, 2])]), 2);
    expect(cache.positions).toBe(2);
    expect(cache.tensor().dims).toEqual([2, 3, 1, 2]);
    cache.keep([0, 2]);
    expect(cache.tensor().dims).toEqual([2, 2, 1, 2]);
    expect(Array.from(cache.tensor().data as Float32Array)).toEqual([0, 1, 20, 21, 100, 101, 120, 121]);
    cache.append(step(2, 2, [0, 2]), 1);
    expect(Array.from(cache.tensor().data as Float32Array)).toEqual([0, 1, 20, 21, 100, 101, 120, 121, 200, 201, 220, 221]);
    cache.keep([1]);
    expect(Array.from(cache.tensor().data as Float32Array)).toEqual([20, 21, 120, 121, 220, 221]);
    expect(() => cache.append(new Float32Array(5), 1)).toThrow(/expected 1 x 2/);
  });
});

describe('pruning the subject to the layer-L output', () => {
  it('drops logits and the nodes only they need; hidden is unchanged', async () => {
    const full = readFileSync(path.join(dir, 'subject.onnx'));
    const pruned = pruneToOutputs(full, ['hidden']);
    expect(pruned).not.toBeNull();
    expect(pruned!.length).toBeLessThan(full.length);
    const a = await ort.InferenceSession.create(full, options);
    const b = await ort.InferenceSession.create(pruned!, options);
    expect(b.outputNames).toEqual(['hidden']);
    const ids = new ort.Tensor('int64', BigInt64Array.from({ length: 2 * 9 }, (_, i) => BigInt((i * 37) % 256)), [2, 9]);
    const want = await a.run({ input_ids: ids }, ['hidden']);
    const got = await b.run({ input_ids: ids });
    expect(Array.from(got.hidden.data as Float32Array)).toEqual(Array.from(want.hidden.data as Float32Array));
    expect(pruneToOutputs(full, ['no_such_output'])).toBeNull();
    await a.release();
    await b.release();
  });
});
