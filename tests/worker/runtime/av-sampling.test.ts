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
