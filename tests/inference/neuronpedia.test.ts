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
import { checkNeuronpediaServers } from '../../src/inference/neuronpedia-check';
import { parseNeuronpediaSetting } from '../../src/inference/neuronpedia-setting';
import { expectValid } from '../contracts/contract';
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
      expect(topk.body).toEqual({ prompt: 'hi there', model: 'qwen2.5-7b-it', source: '20-res', topK: 3, ignoreBos: false });
      expect(fake.requests.find((r) => r.path === '/explain')!.body).toEqual({ text: 'hi there', positions: [1, 8], reverse: false, temperature: 0 });
      for (const r of fake.requests) {
        if (r.path === '/explain') expectValid('nla', 'ExplainRequest', r.body);
        else expectValid('inference', 'ActivationTopkByTokenRequest', r.body);
      }
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

describe('the earlier wire, missing round trips, health and doctor', () => {
  it('falls back to the snake_case topk-by-token of a server from before the camelCase rewrite, and remembers it', async () => {
    const fake = await startFakeNeuronpedia({ dModel: 8, layer: 3, wire: 'snake_case' });
    const client = createNeuronpediaInferenceClient({ nlaUrl: fake.url, inferenceUrl: fake.url, model: 'm', source: 's' });
    try {
      const first = await client.analyze({ prompt: 'ab', top_k: 2, nla_samples: 0 });
      expect(first.positions[0].sae.features.map((f) => f.activation)).toEqual([10, 9]);
      await client.analyze({ prompt: 'cd', top_k: 2, nla_samples: 0 });
      const topks = fake.requests.filter((r) => r.path === '/v1/activation/topk-by-token').map((r) => Object.keys(r.body).sort().join(','));
      expect(topks).toEqual(['ignoreBos,model,prompt,source,topK', 'ignore_bos,model,prompt,source,top_k', 'ignore_bos,model,prompt,source,top_k']);
      expect((await client.capabilities()).version).toContain('snake_case');
    } finally {
      await client.close();
      await fake.close();
    }
  });

  it('accepts null scores from an NLA server without a reconstructor: the explanation is kept, the round trip marked not computed', async () => {
    const fake = await startFakeNeuronpedia({ dModel: 8, layer: 3, reconstructor: false });
    const client = createNeuronpediaInferenceClient({ nlaUrl: fake.url, inferenceUrl: fake.url, model: 'm', source: 's', fveBaseline: 0.5 });
    try {
      const result = await client.analyze({ prompt: 'xy' });
      expect(fake.violations).toEqual([]);
      const [explanation] = result.positions[0].explanations;
      expect(explanation.text).toBe('the character "y" at 2');
      expect([explanation.ar.cosine, explanation.ar.mse_nrm, explanation.ar.fve_nrm].every(Number.isNaN)).toBe(true);
      expect((await client.capabilities()).nla.ar_backend).toBe('none');
    } finally {
      await client.close();
      await fake.close();
    }
  });

  it('checks health on the routes the servers have (NLA GET /, inference GET /health) with the secret, and reads d_model and layer from GET /', async () => {
    const fake = await startFakeNeuronpedia({ secret: 'np-secret', dModel: 16, layer: 7 });
    const client = createNeuronpediaInferenceClient({ nlaUrl: fake.url, inferenceUrl: fake.url, secret: 'np-secret', model: 'm', source: 's' });
    try {
      const health = await client.health();
      expect(health.map((h) => h.up)).toEqual([true, true]);
      const caps = await client.capabilities();
      expect([caps.d_model, caps.layer]).toEqual([16, 7]);
      expect(fake.violations).toEqual([]);
    } finally {
      await client.close();
      await fake.close();
    }
  });

  it('doctor: one line per server with its wire, d_model and limits, or why it is unreachable', async () => {
    const fake = await startFakeNeuronpedia({ dModel: 16, layer: 7, scoreSlots: 3 });
    try {
      const [nlaLine, inferenceLine] = await checkNeuronpediaServers({ nlaUrl: fake.url, inferenceUrl: fake.url, model: 'm', source: 's' });
      expect(nlaLine.ok).toBe(true);
      expect(nlaLine.line).toMatch(/d_model 16, layer 7; reconstructor loaded, 3 \/score slots; up to 512 positions/);
      expect(inferenceLine).toMatchObject({ ok: true, line: expect.stringMatching(/camelCase wire/) });
    } finally {
      await fake.close();
    }
    const down = await checkNeuronpediaServers({ nlaUrl: fake.url, inferenceUrl: fake.url, model: 'm', source: 's' });
    expect(down.map((c) => c.ok)).toEqual([false, false]);
    expect(down[0].line).toMatch(/No inference worker could answer/);
  });

  it('CONFAB_NEURONPEDIA: parsed into the client\'s options, or refused naming what is wrong', () => {
    expect(parseNeuronpediaSetting('nla=http://a:1, inference=http://b:2,model=gemma-3-12b-it,source=32-x,fve_baseline=0.0302')).toEqual({
      nlaUrl: 'http://a:1',
      inferenceUrl: 'http://b:2',
      model: 'gemma-3-12b-it',
      source: '32-x',
      fveBaseline: 0.0302,
    });
    expect(() => parseNeuronpediaSetting('nla=http://a:1,model=m,source=s')).toThrow(/inference missing/);
    expect(() => parseNeuronpediaSetting('nla=http://a:1,inference=ftp://b,model=m,source=s')).toThrow(/inference must be an http/);
    expect(() => parseNeuronpediaSetting('nla=http://a,nla=http://b,inference=http://b,model=m,source=s')).toThrow(/given twice/);
    expect(() => parseNeuronpediaSetting('colour=red')).toThrow(/not one of nla, inference/);
    expect(() => parseNeuronpediaSetting('nla=http://a,inference=http://b,model=m,source=s,fve_baseline=-1')).toThrow(/positive number/);
    expect(() => parseNeuronpediaSetting('')).toThrow(/missing/);
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
