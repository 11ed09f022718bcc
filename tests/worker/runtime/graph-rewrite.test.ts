import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { REFERENCE_MODELS } from '../../../src/config';
import { keepBatchRows } from '../../../src/worker/runtime/av-onnx';
import { kvInputName, kvOutputName, pruneToOutputs, splitKvCache } from '../../../src/worker/runtime/graph-rewrite';
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
