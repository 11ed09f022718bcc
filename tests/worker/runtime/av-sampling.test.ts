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
