import { describe, expect, it } from 'vitest';
import { VoteTableBuilder, voteTableFrom } from '../../src/core/labels/vote-table';
import { fleissKappa, fleissKappaFromCounts, krippendorffAlpha } from '../../src/core/labels/agreement';
import { majorityVote, majorityOf, UNDECIDED } from '../../src/core/labels/majority';

describe("Krippendorff's alpha (nominal, missing data)", () => {
  it('reproduces the worked example of Krippendorff (2011), alpha = 0.743', () => {
    // Krippendorff, K. (2011). "Computing Krippendorff's Alpha-Reliability", Annenberg School
    // for Communication, section C ("nominal data, any number of observers, missing values"):
    // 4 observers × 12 units with gaps; the paper's result is alpha = 0.743. The same "C" data
    // are the example of R's irr::kripp.alpha (value 0.743). null = missing value.
    const observers: Array<Array<number | null>> = [
      [1, 2, 3, 3, 2, 1, 4, 1, 2, null, null, null],
      [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, null, 3],
      [null, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, null],
      [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, null],
    ];
    const builder = new VoteTableBuilder();
    observers.forEach((row, o) =>
      row.forEach((value, u) => {
        if (value !== null) builder.add(`unit${u + 1}`, `observer${o}`, String(value));
      }),
    );
    const result = krippendorffAlpha(builder.build());
    expect(result.alpha).not.toBeNull();
    expect(result.alpha!).toBeCloseTo(0.743, 3);
    // Unit 12 has a single value and is not pairable; the paper's n is 40.
    expect(result.pairableItems).toBe(11);
    expect(result.pairableValues).toBe(40);
  });

  it('is 1 for perfect agreement, null without variation or pairable units', () => {
    const perfect = voteTableFrom([
      { item: 1, reviewer: 'a', label: 'x' },
      { item: 1, reviewer: 'b', label: 'x' },
      { item: 2, reviewer: 'a', label: 'y' },
      { item: 2, reviewer: 'b', label: 'y' },
    ]);
    expect(krippendorffAlpha(perfect).alpha).toBe(1);
    const constant = voteTableFrom([
      { item: 1, reviewer: 'a', label: 'x' },
      { item: 1, reviewer: 'b', label: 'x' },
    ]);
    expect(krippendorffAlpha(constant).alpha).toBeNull();
    const singletons = voteTableFrom([
      { item: 1, reviewer: 'a', label: 'x' },
      { item: 2, reviewer: 'a', label: 'y' },
    ]);
    expect(krippendorffAlpha(singletons).alpha).toBeNull();
  });

  it('ignores unsure votes', () => {
    const table = voteTableFrom([
      { item: 1, reviewer: 'a', label: 'faithful' },
      { item: 1, reviewer: 'b', label: 'faithful' },
      { item: 1, reviewer: 'c', label: 'unsure' },
      { item: 2, reviewer: 'a', label: 'confabulated' },
      { item: 2, reviewer: 'b', label: 'confabulated' },
    ]);
    expect(table.length).toBe(4);
    expect(table.classes).toEqual(['faithful', 'confabulated']);
    expect(krippendorffAlpha(table).alpha).toBe(1);
  });
});

describe("Fleiss' kappa", () => {
  // Fleiss (1971) style example used by Wikipedia's "Fleiss' kappa" article and by Cardillo's
  // MATLAB `fleiss` (File Exchange 15426): 14 raters, 10 subjects, 5 categories; counts of
  // raters per category. Published value: kappa = 0.210 (0.2099), P̄ = 0.378, P̄e = 0.213.
  const counts = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
  ];

  it('reproduces the 14-rater example, kappa = 0.210', () => {
    const result = fleissKappaFromCounts(counts.flat(), 5);
    expect(result.applicable).toBe(true);
    if (!result.applicable) return;
    expect(result.kappa).toBeCloseTo(0.2099, 4);
    expect(result.observed).toBeCloseTo(0.378, 3);
    expect(result.expected).toBeCloseTo(0.213, 3);
    expect(result.raters).toBe(14);
  });

  it('gives the same value from raw votes with string labels', () => {
    const builder = new VoteTableBuilder({ classes: ['c1', 'c2', 'c3', 'c4', 'c5'] });
    counts.forEach((row, subject) => {
      let rater = 0;
      row.forEach((n, category) => {
        for (let t = 0; t < n; t++) builder.add(subject, `r${rater++}`, `c${category + 1}`);
      });
    });
    const result = fleissKappa(builder.build());
    expect(result.applicable && result.kappa).toBeCloseTo(0.2099, 4);
  });

  it('is not applicable when items have unequal rater counts', () => {
    const table = voteTableFrom([
      { item: 1, reviewer: 'a', label: 'faithful' },
      { item: 1, reviewer: 'b', label: 'faithful' },
      { item: 2, reviewer: 'a', label: 'confabulated' },
      { item: 2, reviewer: 'b', label: 'confabulated' },
      { item: 2, reviewer: 'c', label: 'faithful' },
    ]);
    const result = fleissKappa(table);
    expect(result.applicable).toBe(false);
    if (!result.applicable) expect(result.reason).toMatch(/unequal rater counts \(2 to 3\)/);
  });

  it('rejects labels outside a fixed class list with a clear message', () => {
    const builder = new VoteTableBuilder({ classes: ['faithful', 'confabulated'] });
    expect(() => builder.add(1, 'a', 'faithfull')).toThrow('Label "faithfull" is not one of "faithful", "confabulated".');
  });
});

describe('majority vote', () => {
  it('excludes unsure and leaves ties undecided', () => {
    const table = voteTableFrom([
      { item: 'a', reviewer: 1, label: 'faithful' },
      { item: 'a', reviewer: 2, label: 'faithful' },
      { item: 'a', reviewer: 3, label: 'confabulated' },
      { item: 'b', reviewer: 1, label: 'faithful' },
      { item: 'b', reviewer: 2, label: 'confabulated' },
      { item: 'b', reviewer: 3, label: 'unsure' },
      { item: 'c', reviewer: 1, label: 'unsure' },
    ]);
    const m = majorityVote(table);
    expect(table.itemKeys).toEqual(['a', 'b', 'c']);
    expect(Array.from(m.label)).toEqual([0, UNDECIDED, UNDECIDED]);
    expect(Array.from(m.decisiveVotes)).toEqual([2 + 1, 2, 0]);
    expect(m.agreement[0]).toBeCloseTo(2 / 3, 12);
    expect(m.agreement[1]).toBe(0.5);
    expect(Number.isNaN(m.agreement[2])).toBe(true);
  });

  it('majorityOf works on label strings', () => {
    expect(majorityOf(['faithful', 'unsure', 'unsure'])).toBe('faithful');
    expect(majorityOf(['faithful', 'confabulated'])).toBeNull();
    expect(majorityOf(['unsure'])).toBeNull();
    expect(majorityOf(['b', 'a', 'b', 'c'])).toBe('b');
  });
});
