/**
 * The Engine on the shipped reference stack: shared batched passes must give each request the
 * same answer it would get alone, and bad input must come back as 400s in its own slot.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnalyzeRequestSchema, AnalyzeResponseSchema, decodeActivation, type AnalyzeRequestInput, type AnalyzeResponse } from '../../../src/protocol/analyze';
import { EngineError } from '../../../src/worker/engine';
import { createEngine, type RuntimeEngine } from '../../../src/worker/runtime/engine';

const DIR = path.resolve(import.meta.dirname, '../../../models/reference');
let engine: RuntimeEngine;
beforeAll(async () => {
  engine = await createEngine(DIR);
});
afterAll(() => engine?.close());

const req = (r: AnalyzeRequestInput) => AnalyzeRequestSchema.parse(r);
function ok(r: AnalyzeResponse | EngineError): AnalyzeResponse {
  if (r instanceof EngineError) throw r;
  return AnalyzeResponseSchema.parse(r);
}

function expectSameAnalysis(a: AnalyzeResponse, b: AnalyzeResponse) {
  expect(a.tokens).toEqual(b.tokens);
  expect(a.positions.map((p) => [p.position, p.token])).toEqual(b.positions.map((p) => [p.position, p.token]));
  a.positions.forEach((pa, i) => {
    const pb = b.positions[i];
    expect(pa.sae.features.map((f) => f.index)).toEqual(pb.sae.features.map((f) => f.index));
    pa.sae.features.forEach((f, k) => expect(f.activation).toBeCloseTo(pb.sae.features[k].activation, 4));
    expect(pa.sae.l0).toBe(pb.sae.l0);
    expect(pa.sae.explained_variance).toBeCloseTo(pb.sae.explained_variance, 4);
    expect(pa.explanations.map((e) => e.raw)).toEqual(pb.explanations.map((e) => e.raw));
    pa.explanations.forEach((e, k) => expect(e.ar.cosine).toBeCloseTo(pb.explanations[k].ar.cosine, 4));
    if (pa.activation) {
      const va = decodeActivation(pa.activation);
      const vb = decodeActivation(pb.activation!);
      va.forEach((x, j) => expect(Math.abs(x - vb[j])).toBeLessThan(1e-4));
    }
  });
}

describe('Engine.analyzeBatch', () => {
  const prompts = [
    'Hacker slang: a kludge is a clever, ugly fix.',
    'El que madruga, Dios le ayuda.',
    'Chi va piano va sano e va lontano, dice il proverbio; e chi va forte va alla morte.',
  ];

  it('three prompts in one batch equal each analysed alone', async () => {
    const requests = prompts.map((prompt, i) => req({ prompt, positions: i === 2 ? [3, -1] : undefined, top_k: 5, nla_samples: 1, return_activations: true }));
    const together = (await engine.analyzeBatch(requests)).map(ok);
    for (let i = 0; i < requests.length; i++) {
      const [alone] = await engine.analyzeBatch([requests[i]]);
      expectSameAnalysis(together[i], ok(alone));
    }
    // default position is the last token; explicit and negative positions resolve
    expect(together[0].positions.map((p) => p.position)).toEqual([together[0].tokens.length - 1]);
    expect(together[2].positions.map((p) => p.position)).toEqual([3, together[2].tokens.length - 1]);
    const t = together[0].timings_ms;
    for (const stage of ['tokenize', 'subject', 'sae', 'av', 'ar', 'total'] as const) expect(t[stage]).toBeGreaterThanOrEqual(0);
    expect(t.total).toBeGreaterThanOrEqual(t.subject + t.sae + t.av + t.ar - 0.01);
  });

  it('returns tokens with BOS, offsets into the prompt, and per-position SAE and NLA blocks', async () => {
    const prompt = 'ñandú 😀 ok';
    const r = ok((await engine.analyzeBatch([req({ prompt, top_k: 3, nla_samples: 1 })]))[0]);
    expect(r.tokens[0]).toEqual({ id: 256, text: '<|bos|>', start: 0, end: 0, special: true });
    // 'ñ' is two bytes, both mapped to the one UTF-16 unit; the emoji's 4 bytes to its 2 units
    expect(r.tokens.slice(1, 3).map((t) => [t.start, t.end])).toEqual([[0, 1], [0, 1]]);
    const emoji = r.tokens.filter((t) => t.start === prompt.indexOf('😀'));
    expect(emoji).toHaveLength(4);
    expect(emoji.every((t) => t.end === t.start + 2)).toBe(true);
    const [pos] = r.positions;
    expect(pos.token).toBe('k');
    expect(pos.sae.features).toHaveLength(3);
    expect(pos.sae.features[0].activation).toBeGreaterThanOrEqual(pos.sae.features[2].activation);
    expect(pos.sae.fve_nrm).toBeLessThanOrEqual(1);
    const [ex] = pos.explanations;
    expect(ex.raw.length).toBeGreaterThan(0);
    expect(ex.ar.mse_nrm).toBeCloseTo(2 * (1 - ex.ar.cosine), 10);
    expect(ex.ar.fve_nrm).toBeCloseTo(1 - ex.ar.mse_nrm / engine.manifest.stats.B, 10);
    expect(r).toMatchObject({ model: 'confab-reference-v1', d_model: 128, layer: engine.manifest.subject.layer });
  });

  it('user text that spells a special token or the injection char stays plain bytes', async () => {
    const r = ok((await engine.analyzeBatch([req({ prompt: '<|bos|>x㈎<|eos|>', nla_samples: 0 })]))[0]);
    expect(r.tokens.filter((t) => t.special).map((t) => t.id)).toEqual([256]);
    expect(r.tokens.every((t) => t.id < 256 || t.special)).toBe(true);
    expect(r.positions[0].explanations).toEqual([]);
    expect(r.timings_ms.av).toBe(0);
  });

  it('a bad request gets a 400 in its own slot; the others are answered', async () => {
    const long = 'x'.repeat(200);
    const results = await engine.analyzeBatch([
      req({ prompt: 'fine', nla_samples: 0 }),
      req({ prompt: long, nla_samples: 0 }),
      req({ prompt: 'short', positions: [40], nla_samples: 0 }),
      req({ prompt: 'short', positions: [-7], nla_samples: 0 }),
    ]);
    expect(ok(results[0]).positions).toHaveLength(1);
    expect(results[1]).toBeInstanceOf(EngineError);
    expect((results[1] as EngineError).status).toBe(400);
    expect((results[1] as EngineError).message).toBe('Prompt is 200 characters; the limit is 127 characters (this model reads at most 128 tokens).');
    expect((results[2] as EngineError).status).toBe(400);
    expect((results[2] as EngineError).message).toMatch(/Position 40 is out of range; the prompt has 6 tokens \(positions 0\.\.5, or -6\.\.-1/);
    expect((results[3] as EngineError).code).toBe('bad_position');
    // 127 characters + BOS is exactly the limit
    expect(ok((await engine.analyzeBatch([req({ prompt: 'y'.repeat(127), nla_samples: 0 })]))[0]).tokens).toHaveLength(128);
  });

  it('seeded sampling repeats, alone or batched, and n samples are returned', async () => {
    const sampled = req({ prompt: prompts[1], nla_samples: 3, temperature: 1, seed: 7 });
    const a = ok((await engine.analyzeBatch([sampled]))[0]);
    const b = ok((await engine.analyzeBatch([req({ prompt: prompts[0], nla_samples: 3, temperature: 1, seed: 7 }), sampled]))[1]);
    expect(a.positions[0].explanations).toHaveLength(3);
    expect(a.positions[0].explanations.map((e) => e.raw)).toEqual(b.positions[0].explanations.map((e) => e.raw));
    const texts = new Set(a.positions[0].explanations.map((e) => e.raw));
    expect(texts.size).toBeGreaterThan(1);
  });
});

describe('Engine: describe, score, topkByToken', () => {
  it('describe verbalizes a raw vector the same way analyze does', async () => {
    const r = ok((await engine.analyzeBatch([req({ prompt: 'A kludge is a fix.', nla_samples: 1, return_activations: true })]))[0]);
    const v = decodeActivation(r.positions[0].activation!);
    const [explanations] = await engine.describe([v], { samples: 1, temperature: 0, maxNewTokens: 64 });
    expect(explanations[0].raw).toBe(r.positions[0].explanations[0].raw);
    expect(explanations[0].ar.cosine).toBeCloseTo(r.positions[0].explanations[0].ar.cosine, 5);
  });

  it('score rejects a wrong d_model or a non-finite vector with 400, and scores a good one', async () => {
    await expect(engine.score([{ text: 'x', vector: new Float32Array(64).fill(1) }])).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/has 64 values; this model's d_model is 128/) });
    const bad = new Float32Array(128).fill(1);
    bad[5] = Infinity;
    await expect(engine.score([{ text: 'x', vector: bad }])).rejects.toMatchObject({ status: 400, code: 'bad_vector' });
    const text = 'English jargon; word "kludge"';
    const [target] = await engine.nla!.ar.vectors!([text]);
    const [s] = await engine.score([{ text, vector: target }]);
    expect(s.cosine).toBeCloseTo(1, 5);
    expect(s.mse_nrm).toBeCloseTo(0, 4);
    const [opposite] = await engine.score([{ text, vector: target.map((x) => -x) }]);
    expect(opposite.cosine).toBeCloseTo(-1, 5);
    expect(opposite.mse_nrm).toBeCloseTo(4, 4);
  });

  it('topkByToken covers every token (minus BOS when asked) and agrees with analyze', async () => {
    const prompt = 'Fortune cookie';
    const res = await engine.topkByToken(prompt, 4, true);
    expect(res.tokens[0]).toBe('<|bos|>');
    expect(res.results.map((r) => r.token_position)).toEqual(Array.from({ length: prompt.length }, (_, i) => i + 1));
    const all = await engine.topkByToken(prompt, 4, false);
    expect(all.results[0].token_position).toBe(0);
    const last = ok((await engine.analyzeBatch([req({ prompt, top_k: 4, nla_samples: 0 })]))[0]).positions[0];
    const same = res.results[res.results.length - 1];
    expect(same.top_features.map((f) => f.feature_index)).toEqual(last.sae.features.map((f) => f.index));
    await expect(engine.topkByToken('z'.repeat(300), 4, true)).rejects.toMatchObject({ status: 400 });
  });
});

describe('Engine: cancellation', () => {
  it('a request whose client went away stops before generating', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(engine.analyzeBatch([AnalyzeRequestSchema.parse({ prompt: 'gone', nla_samples: 1 })], controller.signal)).rejects.toMatchObject({ name: 'AbortError' });
    // the engine is still usable afterwards
    const [r] = await engine.analyzeBatch([AnalyzeRequestSchema.parse({ prompt: 'still here', nla_samples: 0 })]);
    expect(r).not.toBeInstanceOf(EngineError);
  });
});
