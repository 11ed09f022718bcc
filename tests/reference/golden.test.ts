/**
 * The shipped reference stack (models/reference) against the golden files its export script
 * wrote: the TypeScript runtime must reproduce PyTorch's numbers through ONNX, including the AV
 * prompt built and injected in TypeScript.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OnnxArBackend } from '../../src/worker/runtime/ar-onnx';
import type { OnnxAvBackend } from '../../src/worker/runtime/av-onnx';
import { createEngine, type RuntimeEngine } from '../../src/worker/runtime/engine';
import { createSession } from '../../src/worker/runtime/execution';

const DIR = path.resolve(import.meta.dirname, '../../models/reference');
const golden = (name: string) => JSON.parse(readFileSync(path.join(DIR, 'golden', `${name}.json`), 'utf8'));

let engine: RuntimeEngine;
beforeAll(async () => {
  engine = await createEngine(DIR);
});
afterAll(() => engine?.close());

describe('reference stack: graphs match the manifest', () => {
  it('every ONNX graph loads on the CPU with the inputs and outputs the contract names', async () => {
    const m = engine.manifest;
    const subject = await createSession(m.subject.onnx, 'cpu');
    expect(subject.inputNames).toEqual(['input_ids']);
    expect(subject.outputNames).toEqual(expect.arrayContaining(['hidden', 'logits']));
    const decoder = await createSession(m.nla!.av.onnx!, 'cpu');
    expect(decoder.inputNames).toEqual(expect.arrayContaining(['inputs_embeds', 'past']));
    expect(decoder.outputNames).toEqual(expect.arrayContaining(['logits', 'present']));
    const past = decoder.inputMetadata.find((x) => x.name === 'past');
    // [n_layer, 2, B, n_head, P, head_dim] with n_head * head_dim = d_model
    const dims = past && past.isTensor ? past.shape : [];
    expect(dims[1]).toBe(2);
    expect(Number(dims[3]) * Number(dims[5])).toBe(m.subject.dModel);
    const ar = await createSession(m.nla!.ar.onnx!, 'cpu');
    expect(ar.inputNames).toEqual(expect.arrayContaining(['input_ids', 'attention_mask']));
    expect(ar.outputNames).toEqual(['vector']);
    await Promise.all([subject.release(), decoder.release(), ar.release()]);
    const caps = engine.capabilities();
    expect(caps).toMatchObject({ d_model: 128, max_tokens: 128, sae: { width: 1024, architecture: 'topk' }, nla: { available: true, av_backend: 'onnx', ar_backend: 'onnx' } });
    expect(caps.layer).toBe(m.subject.layer);
  });
});

describe('reference stack: golden outputs', () => {
  it('subject: the prompt tokenizes to the saved ids and layer-L hidden states match (tol 1e-4)', async () => {
    const g = golden('subject');
    const tok = engine.tokenize(g.prompt);
    expect(tok.ids).toEqual(g.input_ids);
    const { hidden, T } = await engine.forward([tok.ids]);
    expect(T).toBe(g.hidden.length);
    let worst = 0;
    g.hidden.forEach((row: number[], t: number) => row.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - hidden[t * 128 + j])))));
    expect(worst).toBeLessThan(g.tolerance ?? 1e-4);
  });

  it('SAE: top features at the saved position, same indices, same order, activations within 1e-4', async () => {
    const g = golden('sae');
    const { hidden } = await engine.forward([g.input_ids]);
    const [block] = await engine.sae.analyze(hidden, [g.position], g.top_features.length, engine.manifest.stats);
    expect(block.features.map((f) => f.index)).toEqual(g.top_features.map((f: { index: number }) => f.index));
    block.features.forEach((f, i) => expect(Math.abs(f.activation - g.top_features[i].activation)).toBeLessThan(1e-4));
    expect(block.l0).toBeLessThanOrEqual(engine.manifest.sae.cfg.k!);
    expect(block.features.every((f) => f.label.length > 0)).toBe(true);
  });

  it('AV: the TypeScript-built prompt has the saved ids and site, and greedy decoding gives the saved tokens', async () => {
    const g = golden('av');
    const builder = engine.nla!.builder;
    expect(Array.from(builder.tokenIds)).toEqual(g.template_ids);
    expect(builder.site).toBe(g.injection_site);
    expect(engine.manifest.nla!.av.meta.injectionScale).toBe(g.injection_scale);
    const prompt = builder.build(Float32Array.from(g.activation));
    const row = prompt.embeds.subarray(prompt.site * 128, (prompt.site + 1) * 128);
    expect(Math.hypot(...row)).toBeCloseTo(g.injection_scale, 4);
    const av = engine.nla!.av as OnnxAvBackend;
    const [[ids]] = await av.generateIds([prompt], { samples: 1, temperature: 0, maxNewTokens: g.max_new_tokens });
    expect(ids).toEqual(g.greedy_ids.filter((id: number) => id !== engine.manifest.nla!.av.eosTokenIds[0]));
    expect(engine.tokenizer.decode(ids)).toBe(g.greedy_text);
  });

  it('AR: the saved text gives the saved ids and vector', async () => {
    const g = golden('ar');
    const ar = engine.nla!.ar as OnnxArBackend;
    expect(ar.inputIds(g.text)).toEqual(g.input_ids);
    const [v] = await ar.vectors([g.text]);
    const worst = Math.max(...g.vector.map((x: number, i: number) => Math.abs(x - v[i])));
    expect(worst).toBeLessThan(1e-4);
  });
});
