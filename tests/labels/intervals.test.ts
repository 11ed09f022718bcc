import { describe, expect, it } from 'vitest';
import { auroc, wilsonInterval } from '../../src/core/labels/intervals';

describe('Wilson score interval', () => {
  // Newcombe, R. G. (1998). "Two-sided confidence intervals for the single proportion:
  // comparison of seven methods", Statistics in Medicine 17:857–872, Table I, method 3 (score
  // interval without continuity correction, Wilson 1927), 95% limits to four decimals.
  it.each([
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0.0, 0.1611],
    [1, 29, 0.0061, 0.1718],
  ])('%i/%i gives %f to %f (Newcombe 1998, Table I)', (x, n, low, high) => {
    const r = wilsonInterval(x, n)!;
    expect(r.rate).toBeCloseTo(x / n, 12);
    expect(r.low).toBeCloseTo(low, 4);
    expect(r.high).toBeCloseTo(high, 4);
  });

  it('is null for n = 0 and refuses impossible counts', () => {
    expect(wilsonInterval(0, 0)).toBeNull();
    expect(() => wilsonInterval(3, 2)).toThrow(/0 ≤ successes ≤ n/);
  });

  it('pins the bound at 1 when every trial succeeds', () => {
    const r = wilsonInterval(10, 10)!;
    expect(r.high).toBe(1);
    expect(r.low).toBeCloseTo(0.7225, 4);
  });
});

describe('AUROC (Mann–Whitney) with the Hanley–McNeil interval', () => {
  it('reproduces Hanley & McNeil (1982), Table 1: A = 0.893, SE = 0.032', () => {
    // Hanley & McNeil (1982), Radiology 143:29–36, Table 1: 109 CT images rated on a 5-point
    // scale (1 definitely normal … 5 definitely abnormal); 58 normal, 51 abnormal. The paper
    // gives the Wilcoxon area W = 0.893 with SE(W) = 0.032.
    const normal = [33, 6, 6, 11, 2];
    const abnormal = [3, 2, 2, 11, 33];
    const scores: number[] = [];
    const positive: boolean[] = [];
    for (let rating = 1; rating <= 5; rating++) {
      for (let t = 0; t < normal[rating - 1]; t++) {
        scores.push(rating);
        positive.push(false);
      }
      for (let t = 0; t < abnormal[rating - 1]; t++) {
        scores.push(rating);
        positive.push(true);
      }
    }
    const r = auroc(scores, positive)!;
    expect(r.positives).toBe(51);
    expect(r.negatives).toBe(58);
    expect(r.auroc).toBeCloseTo(0.893, 3);
    expect(r.se).toBeCloseTo(0.032, 3);
    expect(r.low).toBeCloseTo(r.auroc - 1.959963984540054 * r.se, 12);
    expect(r.interval).toBe('hanley-mcneil');
  });

  it('counts ties as one half and is symmetric', () => {
    expect(auroc([1, 1], [true, false])!.auroc).toBe(0.5);
    expect(auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])!.auroc).toBe(0.75);
    expect(auroc([0.1, 0.4, 0.35, 0.8], [1, 1, 0, 0])!.auroc).toBe(0.25);
    expect(auroc([3, 2, 1], [true, false, false])!.auroc).toBe(1);
  });

  it('is null with one class only or a non-finite score', () => {
    expect(auroc([1, 2], [true, true])).toBeNull();
    expect(auroc([1, Number.NaN], [true, false])).toBeNull();
    expect(() => auroc([1, 2], [true])).toThrow(/2 scores but 1 labels/);
  });
});
