import { describe, expect, it } from 'vitest';
import { StopMatcher, mulberry32, pickToken } from '../../../src/worker/runtime/av-onnx';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('AV generation helpers', () => {
  it('StopMatcher finds </explanation> across token boundaries and after false starts', () => {
    const m = new StopMatcher(bytes('</explanation>'));
    expect(m.push(bytes('a </expl'))).toBe(false);
    expect(m.push(bytes('anat'))).toBe(false);
    expect(m.push(bytes('ion>'))).toBe(true);
    const partial = new StopMatcher(bytes('</explanation>'));
    expect(partial.push(bytes('<</</explanation'))).toBe(false);
    expect(partial.push(bytes('>'))).toBe(true);
    const overlap = new StopMatcher(bytes('abab'));
    expect(overlap.push(bytes('aba'))).toBe(false);
    expect(overlap.push(bytes('b'))).toBe(true);
  });

  it('greedy picks the argmax; temperature sampling follows the softmax and repeats per seed', () => {
    const logits = Float32Array.from([0, 9, 1, 2, /* row 2 */ 3, 1, 3, 0]);
    const scratch = new Float64Array(4);
    expect(pickToken(logits, 0, 4, 0, Math.random, scratch)).toBe(1);
    expect(pickToken(logits, 4, 4, 0, Math.random, scratch)).toBe(0); // tie goes to the lower id
    const counts = [0, 0, 0, 0];
    const rand = mulberry32(42);
    for (let i = 0; i < 4000; i++) counts[pickToken(logits, 4, 4, 1, rand, scratch)]++;
    // softmax([3,1,3,0]) = [0.4576, 0.0619, 0.4576, 0.0228]
    expect(counts[0] / 4000).toBeCloseTo(0.4576, 1);
    expect(counts[1] / 4000).toBeCloseTo(0.0619, 1);
    expect(counts[3] / 4000).toBeCloseTo(0.0228, 1);
    const a = mulberry32(7);
    const b = mulberry32(7);
    expect([a(), a(), a()]).toEqual([b(), b(), b()]);
    expect(mulberry32(8)()).not.toBe(mulberry32(7)());
  });
});

describe('KV cache compaction', () => {
  it('keeps the chosen batch rows of every layer and of both K and V, in order', async () => {
    const { keepBatchRows } = await import('../../../src/worker/runtime/av-onnx');
    const ort = await import('onnxruntime-node');
    // [n_layer 2, 2, B 3, n_head 1, P 2, head_dim 1]: value = 100 l + 10 kv + b, + p/10
    const dims = [2, 2, 3, 1, 2, 1];
    const data = new Float32Array(24);
    let i = 0;
    for (let l = 0; l < 2; l++) for (let kv = 0; kv < 2; kv++) for (let b = 0; b < 3; b++) for (let p = 0; p < 2; p++) data[i++] = 100 * l + 10 * kv + b + p / 10;
    const kept = keepBatchRows(new ort.Tensor('float32', data, dims), [2, 0]);
    expect(kept.dims).toEqual([2, 2, 2, 1, 2, 1]);
    expect(Array.from(kept.data as Float32Array).map((x) => +x.toFixed(1))).toEqual([
      2, 2.1, 0, 0.1, 12, 12.1, 10, 10.1, 102, 102.1, 100, 100.1, 112, 112.1, 110, 110.1,
    ]);
  });
});

describe('the three cache layouts generate the same tokens', () => {
  it('as exported, per layer, and time-major in place: greedy and seeded, with rows that stop at different lengths', async () => {
    const { REFERENCE_MODELS } = await import('../../../src/config');
    const { createEngine } = await import('../../../src/worker/runtime/engine');
    const { OnnxAvBackend } = await import('../../../src/worker/runtime/av-onnx');
    const engine = await createEngine(REFERENCE_MODELS);
    const spec = engine.manifest.nla!.av;
    const open = (kv_cache?: string) =>
      OnnxAvBackend.fromContext({ manifest: engine.manifest, spec: { ...spec, options: { ...spec.options, ...(kv_cache ? { kv_cache } : {}) } }, tokenizer: engine.nla!.avTokenizer, executionProvider: 'cpu' });
    const backends = await Promise.all([open('as_exported'), open('split'), open()]);
    try {
      const prompts = ['Chi dorme non piglia pesci.', 'A hacker is a person who enjoys exploring.', 'x', 'Dios los cría y ellos se juntan.'];
      const results = await engine.analyzeBatch(prompts.map((prompt) => ({ prompt, nla_samples: 0, top_k: 4, return_activations: true })));
      const { decodeActivation } = await import('../../../src/protocol/analyze');
      const built = results.map((r) => engine.nla!.builder.build(decodeActivation((r as { positions: Array<{ activation?: string }> }).positions[0].activation!)));
      for (const sampling of [
        { samples: 1, temperature: 0, maxNewTokens: 64 },
        { samples: 3, temperature: 0.8, maxNewTokens: 64, seed: 11 },
      ]) {
        const [stacked, perLayer, appended] = await Promise.all(backends.map((b) => b.generateIds(built, sampling)));
        expect(perLayer).toEqual(stacked);
        expect(appended).toEqual(stacked);
        // The batch really had rows that left early (the case that compacts the cache).
        const lengths = appended.flat().map((ids) => ids.length);
        expect(new Set(lengths).size, JSON.stringify(lengths)).toBeGreaterThan(1);
      }
    } finally {
      await Promise.all(backends.map((b) => b.close()));
      await engine.close();
    }
  });
});
