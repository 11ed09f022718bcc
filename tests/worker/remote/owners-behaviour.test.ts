/**
 * The remote backends against fakes that behave as vLLM's, SGLang's and Neuronpedia's own code
 * does: what those servers refuse, their streams and stop strings, busy answers (503 from vLLM
 * and SGLang, 429 from the NLA server's /score), and the /score slots the NLA server has.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { REFERENCE_MODELS } from '../../../src/config';
import { EngineError } from '../../../src/worker/engine';
import { createNeuronpediaArBackend, createSglangAvBackend, createVllmAvBackend, torchSaveFloat32 } from '../../../src/worker/remote';
import { AvPromptBuilder } from '../../../src/worker/runtime/embeddings';
import { loadManifest } from '../../../src/worker/runtime/manifest';
import { Tokenizer } from '../../../src/worker/runtime/tokenizer';
import { sseFrames } from '../../contracts/contract';
import { fakeCosine, startFakeNeuronpedia } from '../../fakes/neuronpedia/server';
import { startFakeSglang } from '../../fakes/sglang/server';
import { startFakeVllm } from '../../fakes/vllm/server';
import { referenceExpectation } from './reference-av';

let builder: AvPromptBuilder;
const d = 128;

function activation(seed: number): Float32Array {
  const v = new Float32Array(d);
  for (let i = 0; i < d; i++) v[i] = Math.cos(seed * 17 + i * 0.3) * (1 + (i % 3));
  return v;
}

beforeAll(async () => {
  const manifest = loadManifest(REFERENCE_MODELS);
  builder = await AvPromptBuilder.open(manifest.nla!.av, Tokenizer.fromFile(manifest.nla!.av.tokenizer), d);
});

async function post(url: string, body: unknown): Promise<{ status: number; text: string }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, text: await response.text() };
}

describe('vLLM, as its CompletionRequest and SamplingParams behave', () => {
  it('the fake refuses what vLLM refuses: an empty text prompt without BOS, n 0, max_tokens 0, greedy n > 1, wrapped or url-safe base64', async () => {
    const v = activation(1);
    const fake = await startFakeVllm(referenceExpectation(v), { model: 'av', reply: () => 'x</explanation>' });
    try {
      const prompt = builder.build(v);
      const embeds = torchSaveFloat32(prompt.embeds, [prompt.T, prompt.d]).toString('base64');
      const ok = { model: 'av', prompt: null, prompt_embeds: embeds, max_tokens: 8, temperature: 0 };
      expect((await post(`${fake.url}/v1/completions`, ok)).status).toBe(200);
      const refused = [
        [{ ...ok, prompt: '' }, /decoder prompt cannot be empty/],
        [{ ...ok, n: 0 }, /n must be at least 1/],
        [{ ...ok, max_tokens: 0 }, /max_tokens must be at least 1/],
        [{ ...ok, n: 2 }, /n must be 1 when using greedy sampling/],
        [{ ...ok, temperature: 3 }, /temperature must be in \[0, 2\]/],
        [{ ...ok, prompt_embeds: embeds.replace(/(.{76})/g, '$1\n') }, /strict base64/],
        [{ ...ok, prompt_embeds: embeds.replace(/\+/g, '-').replace(/\//g, '_') }, /strict base64/],
        [{ ...ok, prompt_embeds: undefined }, /Either prompt or prompt_embeds/],
      ] as const;
      for (const [body, why] of refused) {
        const answer = await post(`${fake.url}/v1/completions`, body);
        expect(answer.status, JSON.stringify(body).slice(0, 80)).toBe(400);
        expect(answer.text).toMatch(why);
      }
    } finally {
      await fake.close();
    }
  });

  it('the fake streams deltas and trims the stop string unless asked to keep it', async () => {
    const v = activation(2);
    const fake = await startFakeVllm(referenceExpectation(v), { model: 'av', reply: () => ' a pun</explanation> and more' });
    try {
      const prompt = builder.build(v);
      const embeds = torchSaveFloat32(prompt.embeds, [prompt.T, prompt.d]).toString('base64');
      const body = { model: 'av', prompt_embeds: embeds, max_tokens: 8, temperature: 0, stop: ['</explanation>'] };
      const plain = JSON.parse((await post(`${fake.url}/v1/completions`, body)).text) as { choices: Array<{ text: string }> };
      expect(plain.choices[0].text).toBe(' a pun');
      const streamed = sseFrames((await post(`${fake.url}/v1/completions`, { ...body, stream: true, include_stop_str_in_output: true })).text);
      expect(streamed.at(-1)).toBe('[DONE]');
      const text = streamed.slice(0, -1).map((f) => (f as { choices: Array<{ text: string }> }).choices[0].text).join('');
      expect(text).toBe(' a pun</explanation>');
    } finally {
      await fake.close();
    }
  });

  it('the backend sends no prompt beside prompt_embeds, so a tokenizer without BOS works and no completion is wasted', async () => {
    const v = activation(3);
    const fake = await startFakeVllm(referenceExpectation(v), { model: 'av', bos: false, reply: (_c, i) => ` sample ${i}</explanation> tail` });
    try {
      const backend = createVllmAvBackend({ url: fake.url, model: 'av' });
      const [texts] = await backend.generate([builder.build(v)], { samples: 2, temperature: 0.8, maxNewTokens: 16 });
      expect(texts).toEqual([' sample 0</explanation>', ' sample 1</explanation>']);
      expect(fake.violations).toEqual([]);
      expect(fake.calls[0].body.prompt).toBeNull();
    } finally {
      await fake.close();
    }
  });

  it('greedy samples go one request each (vLLM refuses n > 1 at temperature 0)', async () => {
    const v = activation(4);
    const fake = await startFakeVllm(referenceExpectation(v), { model: 'av', reply: () => ' the same</explanation>' });
    try {
      const backend = createVllmAvBackend({ url: fake.url, model: 'av' });
      const [texts] = await backend.generate([builder.build(v)], { samples: 3, temperature: 0, maxNewTokens: 16 });
      expect(texts).toEqual([' the same</explanation>', ' the same</explanation>', ' the same</explanation>']);
      expect(fake.violations).toEqual([]);
      expect(fake.calls.map((c) => c.body.n)).toEqual([1, 1, 1]);
    } finally {
      await fake.close();
    }
  });

  it('503 (queue full) is busy: waited out with backoff, and reported as busy when it lasts', async () => {
    const v = activation(5);
    const slow = await startFakeVllm(referenceExpectation(v), { model: 'av', busyFor: 2, reply: () => ' fine</explanation>' });
    try {
      const backend = createVllmAvBackend({ url: slow.url, model: 'av', timeout_ms: 10_000 });
      expect(await backend.generate([builder.build(v)], { samples: 1, temperature: 0, maxNewTokens: 8 })).toEqual([[' fine</explanation>']]);
    } finally {
      await slow.close();
    }
    const stuck = await startFakeVllm(referenceExpectation(v), { model: 'av', busyFor: 1_000, reply: () => 'x' });
    try {
      const backend = createVllmAvBackend({ url: stuck.url, model: 'av', timeout_ms: 600 });
      const failure = await backend.generate([builder.build(v)], { samples: 1, temperature: 0, maxNewTokens: 8 }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(EngineError);
      expect(failure).toMatchObject({ status: 503, code: 'backend_busy' });
      expect((failure as Error).message).toMatch(/503.*busy/);
    } finally {
      await stuck.close();
    }
  });
});

describe('SGLang, as its GenerateReqInput and SamplingParams behave', () => {
  it('the fake refuses a request without inputs or with a negative temperature, trims stop strings unless no_stop_trim, and streams', async () => {
    const v = activation(6);
    const fake = await startFakeSglang(referenceExpectation(v), () => ' a saying</explanation> more');
    try {
      const rows = Array.from({ length: builder.build(v).T }, (_, t) => Array.from(builder.build(v).embeds.subarray(t * d, (t + 1) * d)));
      const sp = { temperature: 0, max_new_tokens: 8, stop: ['</explanation>'] };
      expect((await post(`${fake.url}/generate`, { sampling_params: sp })).text).toMatch(/Either text, input_ids or input_embeds/);
      expect((await post(`${fake.url}/generate`, { input_embeds: rows, sampling_params: { ...sp, temperature: -1 } })).text).toMatch(/non-negative/);
      expect(JSON.parse((await post(`${fake.url}/generate`, { input_embeds: rows, sampling_params: sp })).text).text).toBe(' a saying');
      const frames = sseFrames((await post(`${fake.url}/generate`, { input_embeds: rows, sampling_params: { ...sp, no_stop_trim: true }, stream: true })).text);
      expect(frames.at(-1)).toBe('[DONE]');
      expect((frames.at(-2) as { text: string }).text).toBe(' a saying</explanation>');
    } finally {
      await fake.close();
    }
  });

  it('503 is busy: the backend waits it out', async () => {
    const v = activation(7);
    const fake = await startFakeSglang(referenceExpectation(v), () => ' patience</explanation>', { busyFor: 2 });
    try {
      const backend = createSglangAvBackend({ url: fake.url, timeout_ms: 10_000 });
      expect(await backend.generate([builder.build(v)], { samples: 1, temperature: 0, maxNewTokens: 8 })).toEqual([[' patience</explanation>']]);
      expect(fake.violations).toEqual([]);
    } finally {
      await fake.close();
    }
  });
});

describe('the remote AR against the NLA server\'s /score slots', () => {
  it('reads the slot count from GET / and never has more calls in flight, so no 429 comes back', async () => {
    const fake = await startFakeNeuronpedia({ dModel: d, layer: 2, scoreSlots: 2, scoreDelayMs: 30 });
    try {
      const backend = createNeuronpediaArBackend({ url: fake.url });
      const items = Array.from({ length: 8 }, (_, i) => ({ text: `description ${i}`, vector: activation(10 + i) }));
      const [a, b] = await Promise.all([backend.cosines(items), backend.cosines(items.slice(0, 3))]);
      expect(a).toEqual(items.map((i) => fakeCosine(i.text)));
      expect(b).toHaveLength(3);
      expect(fake.score).toEqual({ maxInFlight: 2, refused: 0 });
      expect(fake.violations).toEqual([]);
    } finally {
      await fake.close();
    }
  });

  it('a 429 (another client holds the slots) is retried after Retry-After instead of failing the analysis', async () => {
    const fake = await startFakeNeuronpedia({ dModel: d, layer: 2, busyFor: 1 });
    try {
      const backend = createNeuronpediaArBackend({ url: fake.url, timeout_ms: 10_000 });
      const started = performance.now();
      expect(await backend.cosines([{ text: 'late but fine', vector: activation(30) }])).toEqual([fakeCosine('late but fine')]);
      expect(performance.now() - started).toBeGreaterThanOrEqual(950);
    } finally {
      await fake.close();
    }
  });
});
