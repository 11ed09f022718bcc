import { describe, expect, it } from 'vitest';
import {
  closeDecision,
  leadPosterior,
  pickDecoySource,
  rankCandidates,
  shouldServeDecoy,
  SoftLocks,
  uncertainty,
} from '../../src/core/labels/queue-priority';
import { labelStatsLines, signalAurocs, type LabelledExplanation } from '../../src/core/labels/stats-extra';
import { mulberry32 } from './crowd';

describe('item lifecycle', () => {
  it('computes the Beta(1,1) posterior of the leading label exactly', () => {
    expect(leadPosterior(3, 0)).toBeCloseTo(15 / 16, 12);
    expect(leadPosterior(1, 2)).toBeCloseTo(11 / 16, 12);
    expect(leadPosterior(4, 1)).toBeCloseTo(57 / 64, 12);
    expect(leadPosterior(2, 2)).toBe(0.5);
    expect(leadPosterior(0, 0)).toBe(0.5);
    // Large counts stay finite and near 1.
    expect(leadPosterior(600, 400)).toBeGreaterThan(0.999);
  });

  it('closes a unanimous item at N votes, keeps a split one open, closes it at the cap', () => {
    const policy = { votesToClose: 3 };
    expect(closeDecision(2, 0, policy)).toMatchObject({ close: false, reason: 'needs_votes' });
    expect(closeDecision(0, 3, policy)).toMatchObject({ close: true, reason: 'votes', label: 'confabulated' });
    expect(closeDecision(2, 1, policy)).toMatchObject({ close: false, reason: 'low_agreement' });
    expect(closeDecision(4, 1, policy)).toMatchObject({ close: true, reason: 'votes', label: 'faithful' });
    expect(closeDecision(3, 3, policy)).toMatchObject({ close: false, reason: 'low_agreement' });
    expect(closeDecision(4, 3, policy)).toMatchObject({ close: true, reason: 'max_votes', label: 'faithful' });
    expect(closeDecision(3, 3, { votesToClose: 3, maxVotes: 6 })).toMatchObject({ close: true, reason: 'max_votes', label: 'undecided' });
  });
});

describe('queue order and soft locks', () => {
  const at = (s: number) => new Date(Date.UTC(2026, 10, 25, 12, 0, s));
  const items = [
    { explanationId: 1, faithfulVotes: 2, confabulatedVotes: 0, createdAt: at(1) },
    { explanationId: 2, faithfulVotes: 1, confabulatedVotes: 1, createdAt: at(2) },
    { explanationId: 3, faithfulVotes: 2, confabulatedVotes: 0, createdAt: at(0) },
    { explanationId: 4, faithfulVotes: 0, confabulatedVotes: 0, createdAt: at(3) },
    { explanationId: 5, faithfulVotes: 1, confabulatedVotes: 0, createdAt: at(4) },
  ];

  it('offers the fewest decisive votes first, then the most uncertain, then the oldest', () => {
    expect(rankCandidates(items).map((c) => c.explanationId)).toEqual([4, 5, 2, 3, 1]);
    expect(uncertainty({ faithfulVotes: 0, confabulatedVotes: 0 })).toBe(1);
    expect(uncertainty({ faithfulVotes: 3, confabulatedVotes: 0 })).toBeCloseTo(0.4, 12);
    // A Dawid–Skene posterior, when known, overrides the count estimate.
    expect(uncertainty({ faithfulVotes: 1, confabulatedVotes: 1, pConfabulated: 0.95 })).toBeCloseTo(0.1, 12);
  });

  it('gives two reviewers working at once different items, and expires locks', () => {
    let now = 1_000_000;
    const locks = new SoftLocks(60_000, () => now);
    const first = rankCandidates(items, (id) => locks.isLockedByOther(id, 101))[0];
    expect(locks.take(first.explanationId, 101)).toBe(true);
    const second = rankCandidates(items, (id) => locks.isLockedByOther(id, 202))[0];
    expect(second.explanationId).not.toBe(first.explanationId);
    expect(locks.take(first.explanationId, 202)).toBe(false);
    // The holder sees its own item as free; after the TTL anyone may take it.
    expect(locks.isLockedByOther(first.explanationId, 101)).toBe(false);
    now += 60_001;
    expect(locks.take(first.explanationId, 202)).toBe(true);
    // Taking another item releases the reviewer's previous lock.
    locks.take(2, 202);
    expect(locks.isLockedByOther(first.explanationId, 101)).toBe(false);
  });

  it('still offers a locked item when nothing else is open', () => {
    const locks = new SoftLocks();
    locks.take(4, 1);
    expect(rankCandidates([items[3]], (id) => locks.isLockedByOther(id, 2)).map((c) => c.explanationId)).toEqual([4]);
  });
});

describe('decoys', () => {
  it('are served at the configured rate', () => {
    const random = mulberry32(42);
    let served = 0;
    for (let i = 0; i < 10_000; i++) if (shouldServeDecoy(0.1, random)) served++;
    expect(served / 10_000).toBeCloseTo(0.1, 1.5);
    expect(shouldServeDecoy(0, random)).toBe(false);
    expect(() => shouldServeDecoy(1.5)).toThrow('Decoy rate must be from 0 to 1; got 1.5.');
  });

  it('come from a different prompt, preferably the same model and layer', () => {
    const target = { analysisId: 1, prompt: 'p1', model: 'm', layer: 2 };
    const candidates = [
      { explanationId: 10, analysisId: 1, prompt: 'p1', model: 'm', layer: 2, text: 'same analysis' },
      { explanationId: 11, analysisId: 2, prompt: 'p1', model: 'm', layer: 2, text: 'same prompt, other analysis' },
      { explanationId: 12, analysisId: 3, prompt: 'p3', model: 'other', layer: 2, text: 'other model' },
      { explanationId: 13, analysisId: 4, prompt: 'p4', model: 'm', layer: 2, text: 'good' },
    ];
    expect(pickDecoySource(target, candidates, () => 0.99)!.explanationId).toBe(13);
    expect(pickDecoySource(target, candidates.slice(0, 3), () => 0)!.explanationId).toBe(12);
    expect(pickDecoySource(target, candidates.slice(0, 2))).toBeNull();
  });
});

describe('/stats label lines', () => {
  const item = (source: string, f: number, c: number, ar: number | null, overlap?: number): LabelledExplanation => ({
    source,
    faithfulVotes: f,
    confabulatedVotes: c,
    arFveNrm: ar,
    signals: overlap === undefined ? {} : { feature_overlap: { score: overlap } },
  });
  const items = [
    item('nla', 3, 0, 0.9, 0.8),
    item('nla', 2, 1, 0.7, 0.2),
    item('nla', 0, 3, 0.3, 0.6),
    item('nla', 1, 2, 0.5, 0.1),
    item('nla', 2, 2, 0.1, 0.9), // tied: no human label
    item('decoy', 1, 2, null),
    item('decoy', 0, 3, null),
  ];

  it('computes each signal AUROC against the majority label, leaving ties and decoys out', () => {
    const [ar, overlap, judge] = signalAurocs(items);
    expect(ar).toMatchObject({ signal: 'ar_fve_nrm', n: 4 });
    expect(ar.result!.auroc).toBe(1);
    expect(overlap.result!.auroc).toBe(0.75);
    expect(judge).toMatchObject({ signal: 'judge', result: null, n: 0 });
  });

  it('formats agreement, decoy catch rate and AUROC lines', () => {
    const lines = Object.fromEntries(labelStatsLines(items).map((l) => [l.label, l.value]));
    expect(lines["Fleiss' kappa"]).toMatch(/^n\/a \(items have unequal rater counts/);
    expect(lines["Krippendorff's alpha"]).toMatch(/^-?\d\.\d\d over 5 items$/);
    expect(lines['Decoys caught']).toMatch(/^83% of 6 votes \(95% CI \d+–\d+%\)$/);
    expect(lines['AUROC, AR round trip (fve_nrm)']).toMatch(/^1\.00 \(95% CI \d\.\d\d–1\.00, Hanley–McNeil; 2 faithful vs 2 confabulated\)$/);
    expect(lines['AUROC, LLM judge']).toBe('n/a (no labelled item has this signal)');
  });
});
