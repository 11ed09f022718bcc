/**
 * The remote NLA backends against local fakes that check the wire format, with prompts built
 * by the runtime's one embedding builder from the reference stack; then the whole engine
 * configured by a manifest to use them.
 */
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFERENCE_MODELS } from '../../../src/config';
import { AnalyzeResponseSchema, decodeActivation } from '../../../src/protocol/analyze';
import { EngineError } from '../../../src/worker/engine';
import { createNeuronpediaArBackend, createSglangAvBackend, createVllmAvBackend, registerRemoteBackends } from '../../../src/worker/remote';
import { AvPromptBuilder } from '../../../src/worker/runtime/embeddings';
import { createEngine } from '../../../src/worker/runtime/engine';
import { createThreadedEngine } from '../../../src/worker/thread/engine-thread';
import { loadManifest } from '../../../src/worker/runtime/manifest';
import { Tokenizer } from '../../../src/worker/runtime/tokenizer';
import { startFakeNeuronpedia, fakeCosine } from '../../fakes/neuronpedia/server';
import { startFakeSglang } from '../../fakes/sglang/server';
import { startFakeVllm } from '../../fakes/vllm/server';
import { call, serve } from '../http/reference-worker';
import { REFERENCE_DIR, referenceExpectation, referenceTemplateIds } from './reference-av';

let builder: AvPromptBuilder;
const d = 128;

function activation(seed: number): Float32Array {
  const v = new Float32Array(d);
  for (let i = 0; i < d; i++) v[i] = Math.sin(seed * 31 + i * 0.7) * (1 + (i % 5));
  return v;
}

beforeAll(async () => {
  const manifest = loadManifest(REFERENCE_MODELS);
  builder = await AvPromptBuilder.open(manifest.nla!.av, Tokenizer.fromFile(manifest.nla!.av.tokenizer), d);
});

describe('the builder and the independent expectation agree on the reference template', () => {
  it('has the same token ids', () => {
    expect(Array.from(builder.tokenIds)).toEqual(referenceTemplateIds().ids);
  });
});

describe('sglang backend', () => {
  it('sends [T][d] input_embeds (never input_ids) with the scaled row at the checked site', async () => {
    const v = activation(1);
    const fake = await startFakeSglang(referenceExpectation(v), (_call, n) => ` sample ${n}</explanation>`);
    try {
      const backend = createSglangAvBackend({ url: fake.url, concurrency: 2 });
      const texts = await backend.generate([builder.build(v), builder.build(v)], { samples: 2, temperature: 0.7, maxNewTokens: 20, seed: 3 });
      expect(fake.violations).toEqual([]);
      expect(texts).toHaveLength(2);
      expect(texts.every((t) => t.length === 2 && t.every((s) => /^ sample \d<\/explanation>$/.test(s)))).toBe(true);
      expect(new Set(texts.flat()).size).toBe(4);
      expect(fake.calls).toHaveLength(4);
      for (const c of fake.calls) {
        expect(c.received.injectedNorm).toBeCloseTo(referenceTemplateIds().injectionScale, 4);
        expect(c.received.cosine).toBeGreaterThan(0.99999);
        expect(c.samplingParams).toMatchObject({ temperature: 0.7, max_new_tokens: 20, no_stop_trim: true, stop: ['</explanation>'] });
      }
      // Each sample of a seeded request gets its own seed.
      expect(fake.calls.map((c) => c.samplingParams.sampling_seed).sort()).toEqual([3, 3, 4, 4]);
    } finally {
      await fake.close();
    }
  });

  it('the fake rejects an unscaled injection, and the backend reports the server\'s reason', async () => {
    const v = activation(2);
    const fake = await startFakeSglang(referenceExpectation(v), () => 'never</explanation>');
    try {
      const wrong = builder.build(v);
      for (let j = 0; j < d; j++) wrong.embeds[wrong.site * d + j] = v[j]; // raw vector, not rescaled
      const backend = createSglangAvBackend({ url: fake.url });
      const failure = await backend.generate([wrong], { samples: 1, temperature: 0, maxNewTokens: 8 }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(EngineError);
      expect((failure as EngineError).message).toMatch(/answered 400.*norm/);
      expect(fake.violations.some((x) => /norm .* expected injection_scale/.test(x))).toBe(true);
    } finally {
      await fake.close();
    }
  });

  it('an unreachable server is a 503 EngineError naming the URL', async () => {
    const backend = createSglangAvBackend({ url: 'http://127.0.0.1:9', timeout_ms: 2000 });
    const failure = await backend.generate([builder.build(activation(3))], { samples: 1, temperature: 0, maxNewTokens: 8 }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(EngineError);
    expect((failure as EngineError).status).toBe(503);
    expect((failure as EngineError).message).toContain('127.0.0.1:9');
  });
});

describe('vllm backend', () => {
  it('sends a torch.save archive in prompt_embeds through the openai package; the fake decodes it independently', async () => {
    const v = activation(4);
    const fake = await startFakeVllm(referenceExpectation(v), { model: 'reference-av', reply: (_c, i) => ` choice ${i}</explanation>` });
    try {
      const backend = createVllmAvBackend({ url: fake.url, model: 'reference-av', api_key: 'k-123' });
      const texts = await backend.generate([builder.build(v), builder.build(v)], { samples: 3, temperature: 1, maxNewTokens: 30, seed: 9 });
      expect(fake.violations).toEqual([]);
      // Choices come back reversed from the fake; the backend orders them by index.
      expect(texts).toEqual([
        [' choice 0</explanation>', ' choice 1</explanation>', ' choice 2</explanation>'],
        [' choice 0</explanation>', ' choice 1</explanation>', ' choice 2</explanation>'],
      ]);
      for (const c of fake.calls) {
        expect(c.received).toMatchObject({ rows: referenceTemplateIds().ids.length, cols: d });
        expect(c.received.injectedNorm).toBeCloseTo(referenceTemplateIds().injectionScale, 4);
        expect(c.received.cosine).toBeGreaterThan(0.99999);
        expect(c.body).toMatchObject({ model: 'reference-av', prompt: null, n: 3, max_tokens: 30, temperature: 1, seed: 9, include_stop_str_in_output: true });
        expect(c.authorization).toBe('Bearer k-123');
      }
    } finally {
      await fake.close();
    }
  });

  it('surfaces the server\'s refusal (404 for a model it does not serve) as an EngineError', async () => {
    const v = activation(5);
    const fake = await startFakeVllm(referenceExpectation(v), { model: 'other-model', reply: () => 'x' });
    try {
      const backend = createVllmAvBackend({ url: `${fake.url}/v1`, model: 'reference-av' });
      const failure = await backend.generate([builder.build(v)], { samples: 1, temperature: 0, maxNewTokens: 4 }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(EngineError);
      expect((failure as EngineError).message).toMatch(/404/);
      expect(fake.violations.some((x) => /model is "reference-av"/.test(x))).toBe(true);
    } finally {
      await fake.close();
    }
  });
});

describe('neuronpedia AR backend', () => {
  it('posts {description, activation} with X-SECRET-KEY and returns the cosine', async () => {
    const fake = await startFakeNeuronpedia({ secret: 'np-secret-1', dModel: d, layer: 2 });
    try {
      const backend = createNeuronpediaArBackend({ url: fake.url, secret: 'np-secret-1' });
      const items = [
        { text: 'computing jargon', vector: activation(6) },
        { text: 'a Spanish saying about dogs', vector: activation(7) },
      ];
      expect(await backend.cosines(items)).toEqual(items.map((i) => fakeCosine(i.text)));
      expect(fake.violations).toEqual([]);
      expect(fake.requests.map((r) => r.body.description)).toEqual(items.map((i) => i.text));
    } finally {
      await fake.close();
    }
  });
});

describe('an engine whose manifest names the remote backends', () => {
  let sglang: Awaited<ReturnType<typeof startFakeSglang>>;
  let np: Awaited<ReturnType<typeof startFakeNeuronpedia>>;
  let manifestFile: string;
  const PROMPT = 'A fortune in Italian: chi va piano va sano.';
  let expectedActivation: Float32Array;

  beforeAll(async () => {
    // The activation the AV must receive, from the reference engine as shipped.
    const reference = await createEngine(REFERENCE_MODELS);
    const [result] = await reference.analyzeBatch([{ prompt: PROMPT, top_k: 1, nla_samples: 0, return_activations: true }]);
    await reference.close();
    expectedActivation = decodeActivation((result as { positions: Array<{ activation?: string }> }).positions[0].activation!);

    sglang = await startFakeSglang(referenceExpectation(expectedActivation), () => 'an Italian proverb about patience</explanation>');
    np = await startFakeNeuronpedia({ secret: 'np-secret-2', dModel: d, layer: 2 });
    const m = parseYaml(readFileSync(REFERENCE_MODELS, 'utf8'));
    const abs = (p: string) => path.resolve(REFERENCE_DIR, p);
    m.name = 'confab-reference-remote';
    m.subject.onnx = abs(m.subject.onnx);
    m.subject.tokenizer = abs(m.subject.tokenizer);
    m.sae = { path: abs(m.sae.path), labels: abs(m.sae.labels) };
    m.stats = abs(m.stats);
    m.nla.av = { ...m.nla.av, path: abs(m.nla.av.path), backend: 'sglang', url: sglang.url };
    delete m.nla.av.onnx;
    m.nla.ar = { path: abs(m.nla.ar.path), backend: 'neuronpedia', url: np.url, secret: 'np-secret-2' };
    manifestFile = path.join(mkdtempSync(path.join(tmpdir(), 'confab-remote-')), 'manifest.yaml');
    writeFileSync(manifestFile, toYaml(m));
    registerRemoteBackends();
  });

  afterAll(async () => {
    await sglang?.close();
    await np?.close();
  });

  it('serves /v1/analyze with explanations from SGLang scored by the remote /score', async () => {
    const engine = await createEngine(manifestFile);
    const worker = await serve(engine);
    try {
      expect(engine.capabilities().nla).toMatchObject({ av_backend: 'sglang', ar_backend: 'neuronpedia' });
      const answer = await call(`${worker.url}/v1/analyze`, { body: { prompt: PROMPT } });
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      const result = AnalyzeResponseSchema.parse(answer.body);
      const [explanation] = result.positions[0].explanations;
      expect(explanation).toMatchObject({ text: 'an Italian proverb about patience', parsed: true });
      expect(explanation.ar.cosine).toBeCloseTo(fakeCosine('an Italian proverb about patience'), 6);
      expect(sglang.violations).toEqual([]);
      expect(np.violations).toEqual([]);
      expect(sglang.calls).toHaveLength(1);
      expect(sglang.calls[0].received.cosine).toBeGreaterThan(0.99999);
    } finally {
      await worker.close();
      await engine.close();
    }
  });

  it('does the same on the engine threads that `confab worker` serves, which load the remote backends themselves', async () => {
    const engine = await createThreadedEngine(manifestFile, { threads: 1 });
    try {
      expect(engine.capabilities().nla).toMatchObject({ av_backend: 'sglang', ar_backend: 'neuronpedia' });
      const [result] = await engine.analyzeBatch([{ prompt: PROMPT, top_k: 4, nla_samples: 1, return_activations: false }]);
      expect(result).not.toBeInstanceOf(Error);
      const [explanation] = (result as { positions: Array<{ explanations: Array<{ text: string; ar: { cosine: number } }> }> }).positions[0].explanations;
      expect(explanation.text).toBe('an Italian proverb about patience');
      expect(explanation.ar.cosine).toBeCloseTo(fakeCosine('an Italian proverb about patience'), 6);
      expect(sglang.violations).toEqual([]);
    } finally {
      await engine.close();
    }
  });
});
