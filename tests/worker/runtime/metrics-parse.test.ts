import { describe, expect, it } from 'vitest';
import { arScoreFromCosine, cosine, fveNrmFromMse, mseNrm, mseNrmFromCosine, normalizeNrm } from '../../../src/worker/runtime/metrics';
import { parseExplanation } from '../../../src/worker/runtime/parse';
import { randomArray } from './fixtures';

describe('metrics (notes/nla-sae.md)', () => {
  it('n(v) has norm sqrt(d) and keeps the direction', () => {
    const v = randomArray(64, 7, 10);
    const n = normalizeNrm(v);
    expect(Math.hypot(...n)).toBeCloseTo(8, 4);
    expect(cosine(n, v)).toBeCloseTo(1, 6);
  });

  it('mean_d (n(r) - n(x))^2 equals 2 (1 - cos)', () => {
    for (const seed of [1, 2, 3]) {
      const r = randomArray(128, seed);
      const x = randomArray(128, seed + 100);
      expect(mseNrm(r, x)).toBeCloseTo(mseNrmFromCosine(cosine(r, x)), 5);
    }
  });

  it('spans 0 (same direction), 2 (orthogonal) and 4 (opposite); fve_nrm = 1 - mse/B', () => {
    const x = Float32Array.from([1, 0]);
    expect(arScoreFromCosine(cosine(Float32Array.from([5, 0]), x), 0.7335)).toEqual({ cosine: 1, mse_nrm: 0, fve_nrm: 1 });
    expect(mseNrmFromCosine(cosine(Float32Array.from([0, 3]), x))).toBe(2);
    expect(mseNrmFromCosine(cosine(Float32Array.from([-2, 0]), x))).toBe(4);
    expect(fveNrmFromMse(0.2, 0.7335)).toBeCloseTo(1 - 0.2 / 0.7335, 12);
    // A cosine of 0.99 is a good score on Qwen (B 0.73) but a poor one on Gemma (B 0.03).
    expect(arScoreFromCosine(0.99, 0.0302).fve_nrm).toBeCloseTo(1 - 0.02 / 0.0302, 6);
  });
});

describe('parseExplanation', () => {
  it('restores the open tag the template ended with and trims inside the tags', () => {
    expect(parseExplanation('  jargon entry about hackers \n</explanation>', true)).toEqual({
      text: 'jargon entry about hackers',
      raw: '  jargon entry about hackers \n</explanation>',
      parsed: true,
    });
  });

  it('matches across newlines, takes the first pair, ignores what follows', () => {
    expect(parseExplanation('<explanation>line one\nline two</explanation> tail <explanation>x</explanation>', false).text).toBe('line one\nline two');
  });

  it('keeps the raw text and flags it when the tags are missing', () => {
    expect(parseExplanation('一个中文回答', false)).toEqual({ text: '一个中文回答', raw: '一个中文回答', parsed: false });
    expect(parseExplanation('unterminated thought', true)).toMatchObject({ parsed: false, raw: 'unterminated thought' });
  });
});
