import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  computeSignals,
  contentWords,
  featureOverlap,
  JudgeError,
  signalValue,
  type JudgeInput,
} from '../../src/core/labels/signals';
import { createJudge, parseJudgeAnswer } from '../../src/inference/judge';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai/server';

const features = [
  { index: 12, activation: 3.2, label: 'Spanish proverbs and sayings' },
  { index: 40, activation: 1.1, label: 'Dictionary entries' },
  { index: 7, activation: 0, label: 'computer hardware' },
];

describe('feature-label overlap', () => {
  it('drops stopwords and short words, folds case, accents and plural endings', () => {
    expect([...contentWords('The token refers to Spanish PROVERBS, in a dictionary-like café.')].sort()).toEqual([
      'cafe',
      'dictionary',
      'proverb',
      'spanish',
    ]);
    expect([...contentWords('dictionaries boxes classes printed')].sort()).toEqual(['box', 'class', 'dictionary', 'print']);
  });

  it('is the share of the explanation content words named by an active feature label', () => {
    const o = featureOverlap('A Spanish proverb from a dictionary about computer hardware.', features);
    // Content words: spanish, proverb, dictionary, computer, hardware; "computer hardware" is
    // the label of a feature that is not active (activation 0), so it does not count.
    expect(o.contentWords).toBe(5);
    expect(o.matched).toEqual(['dictionary', 'proverb', 'spanish']);
    expect(o.score).toBeCloseTo(3 / 5, 12);
  });

  it('is null for an explanation with no content word', () => {
    expect(featureOverlap('It is the.', features).score).toBeNull();
  });
});

describe('judge answer parser', () => {
  it('accepts exactly the JSON object, optionally in one json fence', () => {
    expect(parseJudgeAnswer('{"verdict":"faithful","confidence":0.8}')).toEqual({ verdict: 'faithful', confidence: 0.8 });
    expect(parseJudgeAnswer('```json\n{"verdict": "confabulated", "confidence": 1}\n```')).toEqual({ verdict: 'confabulated', confidence: 1 });
  });

  it.each([
    ['prose', 'I think it is faithful.'],
    ['an unknown verdict', '{"verdict":"maybe","confidence":0.7}'],
    ['a confidence out of range', '{"verdict":"faithful","confidence":1.5}'],
    ['an extra key', '{"verdict":"faithful","confidence":0.7,"why":"x"}'],
    ['JSON after prose', 'Answer: {"verdict":"faithful","confidence":0.7}'],
    ['nothing', ''],
  ])('rejects %s as malformed', (_what, content) => {
    expect(() => parseJudgeAnswer(content)).toThrow(JudgeError);
    try {
      parseJudgeAnswer(content);
    } catch (e) {
      expect((e as JudgeError).kind).toBe('malformed');
    }
  });
});

describe('LLM judge against a local fake of the OpenAI API', () => {
  let fake: FakeOpenAI;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
  });
  afterAll(async () => {
    await fake.close();
  });

  const input: JudgeInput = {
    prompt: 'El que madruga, Dios le ayuda.',
    token: ' ayuda',
    explanation: 'A Spanish proverb about waking early.',
    features,
  };

  it('is off by default (no judge config)', () => {
    expect(createJudge(undefined)).toBeNull();
  });

  it('sends the explanation and features, and reads a verdict', async () => {
    const judge = createJudge({ baseUrl: fake.baseUrl, apiKey: 'sk-test', model: 'judge-1' }, { timeoutMs: 2000 })!;
    fake.script({ content: '{"verdict":"confabulated","confidence":0.9}' });
    const v = await judge.judge(input);
    expect(v).toMatchObject({ verdict: 'confabulated', confidence: 0.9, model: 'judge-1' });
    expect(v.score).toBeCloseTo(0.1, 12);
    const request = fake.requests.at(-1)!;
    expect(request.authorization).toBe('Bearer sk-test');
    expect(request.body.model).toBe('judge-1');
    expect(request.body.temperature).toBe(0);
    const user = request.body.messages.find((m) => m.role === 'user')!.content;
    expect(user).toContain('A Spanish proverb about waking early.');
    expect(user).toContain('#12 (3.20): Spanish proverbs and sayings');
    // Inactive features are not shown to the judge.
    expect(user).not.toContain('computer hardware');
  });

  it('reports a malformed answer as malformed', async () => {
    const judge = createJudge({ baseUrl: fake.baseUrl, model: 'judge-1' }, { timeoutMs: 2000 })!;
    fake.script({ content: 'Faithful, mostly.' });
    await expect(judge.judge(input)).rejects.toMatchObject({ kind: 'malformed' });
  });

  it('gives up after its timeout, without retrying', async () => {
    const judge = createJudge({ baseUrl: fake.baseUrl, model: 'judge-1' }, { timeoutMs: 300 })!;
    const before = fake.requests.length;
    fake.script({ content: '{"verdict":"faithful","confidence":0.6}', delayMs: 3000 });
    const started = Date.now();
    await expect(judge.judge(input)).rejects.toMatchObject({ kind: 'timeout', message: 'The judge (judge-1) did not answer within 300 ms.' });
    expect(Date.now() - started).toBeLessThan(2500);
    expect(fake.requests.length - before).toBe(1);
  });

  it('reports an HTTP error as unavailable', async () => {
    const judge = createJudge({ baseUrl: fake.baseUrl, model: 'judge-1' }, { timeoutMs: 2000 })!;
    fake.script({ status: 503, message: 'overloaded' });
    await expect(judge.judge(input)).rejects.toMatchObject({ kind: 'unavailable' });
  });

  it('computeSignals stores the overlap and the judge result, or the judge failure', async () => {
    const judge = createJudge({ baseUrl: fake.baseUrl, model: 'judge-1' }, { timeoutMs: 2000 })!;
    fake.script({ content: '{"verdict":"faithful","confidence":0.75}' }, { content: 'nope' });
    const ok = await computeSignals(input, judge);
    expect(ok.feature_overlap!.matched).toEqual(['proverb', 'spanish']);
    expect(ok.judge).toEqual({ score: 0.75, verdict: 'faithful', confidence: 0.75, model: 'judge-1' });
    const failed = await computeSignals(input, judge);
    expect(failed.judge).toEqual({ error: 'malformed', model: 'judge-1' });
    expect(signalValue('judge', { arFveNrm: 0.4, signals: failed as Record<string, unknown> })).toBeNull();
    expect(signalValue('judge', { arFveNrm: 0.4, signals: ok as Record<string, unknown> })).toBe(0.75);
    expect(signalValue('ar_fve_nrm', { arFveNrm: 0.4, signals: {} })).toBe(0.4);
    const none = await computeSignals(input, null);
    expect(none.judge).toBeUndefined();
  });
});
