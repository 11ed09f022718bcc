/**
 * The NLA routes take temperatures up to the spec's 5, but an AV server may cap them lower.
 * The caps, from the servers' own code:
 * - vLLM: `SamplingParams._verify_args` in vllm/sampling_params.py (github.com/vllm-project/vllm
 *   at commit 00388f6573ccfcffad607b8c9ecdf341a4669ceb) refuses a temperature outside [0, 2].
 * - SGLang: `SamplingParams.verify` in python/sglang/srt/sampling/sampling_params.py
 *   (github.com/sgl-project/sglang at commit 00c17cafcb9e289d5ca97c50e44ada54e4fd5b03) checks
 *   only that it is finite and non-negative: no upper cap.
 * A worker whose AV is vLLM refuses a temperature above 2 up front (422 naming the cap, which
 * GET / advertises), instead of failing at vLLM mid-request.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFERENCE_MODELS } from '../../../src/config';
import { EngineError } from '../../../src/worker/engine';
import { createSglangAvBackend, createVllmAvBackend, registerRemoteBackends } from '../../../src/worker/remote';
import { AvPromptBuilder } from '../../../src/worker/runtime/embeddings';
import { createEngine, type RuntimeEngine } from '../../../src/worker/runtime/engine';
import { loadManifest } from '../../../src/worker/runtime/manifest';
import { Tokenizer } from '../../../src/worker/runtime/tokenizer';
import type { WorkerServer } from '../../../src/worker/server';
import { startFakeSglang } from '../../fakes/sglang/server';
import { startFakeVllm, type FakeVllm } from '../../fakes/vllm/server';
import { referenceExpectation } from '../remote/reference-av';
import { call, serve } from './reference-worker';

const REFERENCE_DIR = path.dirname(REFERENCE_MODELS);

/** The reference manifest with its AV served by vLLM at `url`. */
function vllmManifest(dir: string, url: string): string {
  const at = (file: string) => JSON.stringify(path.join(REFERENCE_DIR, file));
  const file = path.join(dir, 'manifest.yaml');
  writeFileSync(
    file,
    [
      'name: confab-reference-vllm',
      `subject: {onnx: ${at('subject.onnx')}, tokenizer: ${at('tokenizer.json')}, layer: 2, d_model: 128, max_tokens: 128, bos_token_id: 256, hidden_output: hidden}`,
      `sae: {path: ${at('sae')}, labels: ${at('sae/labels.json')}}`,
      'nla:',
      `  av: {path: ${at('nla/av')}, backend: vllm, url: "${url}", model: reference-av, embeddings: model.safetensors, embedding_key: embed_tokens.weight, embed_scale: 1.0, eos_token_id: 257, max_new_tokens: 64}`,
      `  ar: {path: ${at('nla/ar')}, backend: onnx, onnx: ar.onnx}`,
      `stats: ${at('stats.json')}`,
      'execution_provider: cpu',
      '',
    ].join('\n'),
  );
  return file;
}

describe('temperature caps of the AV servers on the NLA routes', () => {
  let dir: string;
  let fake: FakeVllm;
  let engine: RuntimeEngine;
  let worker: WorkerServer;

  beforeAll(async () => {
    registerRemoteBackends();
    dir = mkdtempSync(path.join(tmpdir(), 'confab-temperature-'));
    fake = await startFakeVllm(referenceExpectation(), { model: 'reference-av', reply: () => ' a short phrase</explanation>' });
    engine = await createEngine(vllmManifest(dir, fake.url), { executionProvider: 'cpu' });
    worker = await serve(engine, { secret: 'test-secret-0123456789' });
  });

  afterAll(async () => {
    await worker?.close();
    await engine?.close();
    await fake?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('GET / advertises the vLLM backend\'s cap of 2', async () => {
    const health = await call(`${worker.url}/`);
    expect(health.status).toBe(200);
    expect((health.body as { limits: Record<string, number> }).limits.max_temperature).toBe(2);
  });

  it('/explain refuses temperature 3 with a 422 naming the backend and its cap, before vLLM sees it', async () => {
    const before = fake.calls.length;
    const answer = await call(`${worker.url}/explain`, { body: { text: 'Quien mucho abarca', positions: [-1], temperature: 3 } });
    expect(answer.status).toBe(422);
    expect(answer.body).toEqual({
      detail: [
        {
          loc: ['body', 'temperature'],
          msg: "temperature is 3; this worker's AV backend (vllm) accepts at most 2 (limits.max_temperature in GET /).",
          type: 'less_than_equal',
        },
      ],
    });
    // The streamed form is refused the same way, before any event is sent.
    const streamed = await call(`${worker.url}/explain`, { body: { text: 'Quien mucho abarca', stream: true, temperature: 2.5 } });
    expect(streamed.status).toBe(422);
    expect(fake.calls.length).toBe(before);
    expect(fake.violations).toEqual([]);
  });

  it('/describe refuses temperature 4.5 the same way', async () => {
    const vector = Array.from({ length: 128 }, (_, i) => Math.sin(i));
    const answer = await call(`${worker.url}/describe`, { body: { activations: [vector], temperature: 4.5 } });
    expect(answer.status).toBe(422);
    expect(JSON.stringify(answer.body)).toContain('accepts at most 2');
    expect(fake.violations).toEqual([]);
  });

  it('a temperature at the cap still reaches vLLM and answers', async () => {
    const answer = await call(`${worker.url}/explain`, { body: { text: 'Quien mucho abarca', positions: [-1], temperature: 2, seed: 1 } });
    expect(answer.status).toBe(200);
    expect((answer.body as { results: Array<{ description: string }> }).results[0].description).toBe('a short phrase');
    expect(fake.calls.at(-1)!.body.temperature).toBe(2);
    expect(fake.violations).toEqual([]);
  });

  it('the worker still serves after the refusals', async () => {
    const health = await call(`${worker.url}/health`, { secret: null });
    expect(health.status).toBe(200);
  });
});

describe('the AV backends on their own', () => {
  let builder: AvPromptBuilder;
  beforeAll(async () => {
    const manifest = loadManifest(REFERENCE_MODELS);
    builder = await AvPromptBuilder.open(manifest.nla!.av, Tokenizer.fromFile(manifest.nla!.av.tokenizer), 128);
  });
  const vector = () => Float32Array.from({ length: 128 }, (_, i) => Math.cos(i * 0.7));

  it('vLLM refuses a temperature above 2 without sending it', async () => {
    const fake = await startFakeVllm(referenceExpectation(), { model: 'reference-av', reply: () => 'x</explanation>' });
    try {
      const backend = createVllmAvBackend({ url: fake.url, model: 'reference-av' });
      const failure = await backend.generate([builder.build(vector())], { samples: 1, temperature: 2.01, maxNewTokens: 8 }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(EngineError);
      expect(failure).toMatchObject({ status: 400, code: 'bad_temperature', message: 'Temperature 2.01 is above 2, the most the vLLM AV backend accepts.' });
      expect(fake.calls).toEqual([]);
      expect(fake.violations).toEqual([]);
    } finally {
      await fake.close();
    }
  });

  it('SGLang has no cap: temperature 5 is sent as asked', async () => {
    const fake = await startFakeSglang(referenceExpectation(), () => ' warm</explanation>');
    try {
      const backend = createSglangAvBackend({ url: fake.url });
      expect(await backend.generate([builder.build(vector())], { samples: 1, temperature: 5, maxNewTokens: 8 })).toEqual([[' warm</explanation>']]);
      expect(fake.calls.at(-1)!.samplingParams).toMatchObject({ temperature: 5 });
      expect(fake.violations).toEqual([]);
    } finally {
      await fake.close();
    }
  });
});
