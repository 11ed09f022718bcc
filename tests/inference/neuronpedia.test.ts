/**
 * The Neuronpedia-backed inference client: against a fake of Neuronpedia's servers (auth,
 * 429, field mapping), and against a real Confab worker's Neuronpedia-compatible routes, where
 * its answer must agree with the worker's own /v1/analyze.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInferenceClient, createNeuronpediaInferenceClient } from '../../src/inference';
import { AnalyzeResponseSchema } from '../../src/protocol/analyze';
import type { RuntimeEngine } from '../../src/worker/runtime/engine';
import type { WorkerServer } from '../../src/worker/server';
import { fakeCosine, startFakeNeuronpedia } from '../fakes/neuronpedia/server';
import { loadReferenceEngine, SECRET, serve } from '../worker/http/reference-worker';

describe('against a fake Neuronpedia NLA + inference server', () => {
  it('maps topk-by-token and /explain into an AnalyzeResponse, marking what they cannot tell', async () => {
    const fake = await startFakeNeuronpedia({ secret: 'np-1', dModel: 128, layer: 20 });
    const client = createNeuronpediaInferenceClient({
      nlaUrl: fake.url,
      inferenceUrl: fake.url,
      secret: 'np-1',
      model: 'qwen2.5-7b-it',
      source: '20-res',
      fveBaseline: 0.7335,
    });
    try {
      const result = await client.analyze({ prompt: 'hi there', positions: [1, -1], top_k: 3 });
      expect(fake.violations).toEqual([]);
      AnalyzeResponseSchema.omit({ positions: true }).parse(result);
      expect(result.layer).toBe(20);
      expect(result.tokens.map((t) => [t.text, t.start, t.end, t.special])).toEqual([
        ['<bos>', 0, 0, true],
        ...[...'hi there'].map((c, i) => [c, i, i + 1, false]),
      ]);
      expect(result.positions.map((p) => p.position)).toEqual([1, 8]);
      const last = result.positions[1];
      expect(last.token).toBe('e');
      expect(last.sae.features).toHaveLength(3);
      expect(last.sae.features[0]).toEqual({ index: ('e'.codePointAt(0)! * 7) % 1024, activation: 10, label: '' });
      expect(Number.isNaN(last.sae.fve_nrm)).toBe(true);
      const [explanation] = last.explanations;
      const cos = fakeCosine(explanation.text);
      expect(explanation.ar.cosine).toBe(cos);
      expect(explanation.ar.mse_nrm).toBeCloseTo(2 * (1 - cos), 12);
      expect(explanation.ar.fve_nrm).toBeCloseTo(1 - (2 * (1 - cos)) / 0.7335, 12);
      expect(result.tokens[8].id).toBe('e'.codePointAt(0));
      const topk = fake.requests.find((r) => r.path === '/v1/activation/topk-by-token')!;
      expect(topk.body).toMatchObject({ prompt: 'hi there', model: 'qwen2.5-7b-it', source: '20-res', top_k: 3, ignore_bos: false });
      expect(fake.requests.find((r) => r.path === '/explain')!.body).toMatchObject({ text: 'hi there', positions: [1, 8], temperature: 0 });
    } finally {
      await client.close();
      await fake.close();
    }
  });

  it('a busy server (429) is retried after Retry-After', async () => {
    const fake = await startFakeNeuronpedia({ dModel: 128, layer: 20, busyFor: 1 });
    const client = createNeuronpediaInferenceClient({ nlaUrl: fake.url, inferenceUrl: fake.url, model: 'm', source: 's', retries: 1 });
    try {
      const started = performance.now();
      const result = await client.analyze({ prompt: 'ok', nla_samples: 0 });
      expect(result.positions[0].token).toBe('k');
      expect(performance.now() - started).toBeGreaterThanOrEqual(950);
    } finally {
      await client.close();
      await fake.close();
    }
  });
});

describe('against a Confab worker speaking Neuronpedia', () => {
  let engine: RuntimeEngine;
  let worker: WorkerServer;
  beforeAll(async () => {
    engine = await loadReferenceEngine();
    worker = await serve(engine, { secret: SECRET });
  });
  afterAll(async () => {
    await worker?.close();
    await engine?.close();
  });

  it('agrees with the worker\'s own /v1/analyze on tokens, features and the greedy explanation', async () => {
    const prompt = 'The Devil\'s Dictionary: a cynic is a blackguard.';
    const native = await createInferenceClient({ urls: [worker.url], secret: SECRET }).analyze({ prompt, top_k: 5 });
    const viaNeuronpedia = createNeuronpediaInferenceClient({
      nlaUrl: worker.url,
      inferenceUrl: worker.url,
      secret: SECRET,
      model: native.model,
      source: `${native.layer}-confab`,
      layer: native.layer,
      dModel: native.d_model,
    });
    const mapped = await viaNeuronpedia.analyze({ prompt, top_k: 5 });
    expect(mapped.tokens.map((t) => [t.start, t.end])).toEqual(native.tokens.map((t) => [t.start, t.end]));
    const [a] = native.positions;
    const [b] = mapped.positions;
    expect(b.position).toBe(a.position);
    expect(b.sae.features.map((f) => f.index)).toEqual(a.sae.features.map((f) => f.index));
    b.sae.features.forEach((f, i) => expect(f.activation).toBeCloseTo(a.sae.features[i].activation, 4));
    expect(b.explanations[0].text).toBe(a.explanations[0].text);
    expect(b.explanations[0].ar.cosine).toBeCloseTo(a.explanations[0].ar.cosine, 5);
  });
});
