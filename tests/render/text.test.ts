import { describe, expect, it } from 'vitest';
import { activationBar, formatCount, formatPercent, formatScore, plural, truncate, TRUNCATION_MARKER } from '../../src/render/text';

describe('truncate', () => {
  it('leaves text within the limit untouched', () => {
    expect(truncate('hello', 5)).toBe('hello');
    expect(truncate('', 0)).toBe('');
  });

  it('cuts to the limit and ends with a visible marker', () => {
    const out = truncate('a'.repeat(3000), 2000);
    expect(out.length).toBe(2000);
    expect(out.endsWith(TRUNCATION_MARKER)).toBe(true);
  });

  it('never leaves half of a surrogate pair', () => {
    const text = 'ab😀cd';
    const out = truncate(text, 4); // 'ab' + high surrogate would be 3 units + marker
    expect(out).toBe('ab…');
    expect(/[\ud800-\udbff](?![\udc00-\udfff])/.test(out)).toBe(false);
  });

  it('accepts a custom marker and a limit shorter than the marker', () => {
    expect(truncate('abcdefghij', 8, ' [cut]')).toBe('ab [cut]');
    expect(truncate('abcdefghij', 3, ' [cut]')).toBe(' [c');
  });

  it('rejects a negative limit', () => {
    expect(() => truncate('x', -1)).toThrow(RangeError);
  });
});

describe('numbers', () => {
  it('formats counts with thousands separators', () => {
    expect(formatCount(2400)).toBe('2,400');
    expect(formatCount(12)).toBe('12');
  });

  it('formats scores with fixed decimals and no negative zero', () => {
    expect(formatScore(0.8234)).toBe('0.82');
    expect(formatScore(-0.001)).toBe('0.00');
    expect(formatScore(-0.5, 1)).toBe('-0.5');
    expect(formatScore(Number.NaN)).toBe('n/a');
    expect(formatScore(null)).toBe('n/a');
  });

  it('formats percentages and plurals', () => {
    expect(formatPercent(0.237)).toBe('23.7%');
    expect(formatPercent(undefined)).toBe('n/a');
    expect(plural(1, 'vote')).toBe('1 vote');
    expect(plural(1200, 'vote')).toBe('1,200 votes');
    expect(plural(2, 'reply', 'replies')).toBe('2 replies');
  });
});

describe('activationBar', () => {
  it('is always exactly the requested width', () => {
    for (const v of [-1, 0, 0.01, 0.33, 0.5, 0.99, 1, 5]) {
      expect([...activationBar(v, 1, 12)].length).toBe(12);
      expect(activationBar(v, 1, 12, { ascii: true }).length).toBe(12);
    }
  });

  it('draws full, empty and proportional bars', () => {
    expect(activationBar(2, 2, 4)).toBe('████');
    expect(activationBar(0, 2, 4)).toBe('░░░░');
    expect(activationBar(1, 2, 4)).toBe('██░░');
    expect(activationBar(1, 2, 4, { ascii: true })).toBe('##..');
    // An eighth-block partial keeps close values distinguishable.
    expect(activationBar(0.55, 1, 4)).not.toBe(activationBar(0.5, 1, 4));
  });

  it('treats a zero or missing maximum as an empty track', () => {
    expect(activationBar(1, 0, 3)).toBe('░░░');
    expect(activationBar(Number.NaN, 1, 3)).toBe('░░░');
  });
});
