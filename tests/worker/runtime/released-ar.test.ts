/**
 * The documented path for a released AR folder (a Hugging Face checkpoint plus
 * `value_head.safetensors`): the folder stays in the manifest, so its sidecar and depth are
 * checked, and its round trip is scored by a Neuronpedia NLA server's `/score`.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerRemoteBackends } from '../../../src/worker/remote';
import { createEngine } from '../../../src/worker/runtime/engine';
import { encodeSafetensors } from '../../../src/worker/runtime/safetensors';
import { fakeCosine, startFakeNeuronpedia, type FakeNeuronpedia } from '../../fakes/neuronpedia/server';
import { randomArray } from './fixtures';

const REFERENCE = path.resolve(import.meta.dirname, '../../../models/reference');
const PUBLISHED_AR = path.join(import.meta.dirname, 'nla-release/tiny-L2/published/ar/nla_meta.yaml');
const D = 128;

let dir: string;
let np: FakeNeuronpedia;

beforeAll(async () => {
  np = await startFakeNeuronpedia({ secret: 'released-ar-secret', dModel: D, layer: 2 });
  dir = mkdtempSync(path.join(tmpdir(), 'confab-released-ar-'));
  cpSync(REFERENCE, dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}golden`) && !src.includes(`${path.sep}gold${path.sep}`) });
  const ar = path.join(dir, 'nla/ar');
  rmSync(path.join(ar, 'ar.onnx'));
  // The release's AR layout: config.json with layer + 1 blocks, the backbone, the value head, the published sidecar.
  writeFileSync(path.join(ar, 'config.json'), JSON.stringify({ model_type: 'qwen2', hidden_size: D, num_hidden_layers: 3 }));
  writeFileSync(path.join(ar, 'model.safetensors'), encodeSafetensors({ 'model.embed_tokens.weight': { shape: [260, D], data: randomArray(260 * D, 11), dtype: 'BF16' } }));
  writeFileSync(path.join(ar, 'value_head.safetensors'), encodeSafetensors({ weight: { shape: [D, D], data: randomArray(D * D, 12), dtype: 'BF16' } }));
  writeFileSync(path.join(ar, 'nla_meta.yaml'), readFileSync(PUBLISHED_AR, 'utf8').replace('d_model: 8', `d_model: ${D}`));
  const manifest = path.join(dir, 'manifest.yaml');
  writeFileSync(
    manifest,
    readFileSync(manifest, 'utf8').replace('ar: {path: nla/ar, backend: onnx, onnx: ar.onnx}', `ar: {path: nla/ar, backend: neuronpedia, url: "${np.url}", secret: released-ar-secret}`),
  );
  registerRemoteBackends();
});

afterAll(async () => {
  await np?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a released AR folder behind a Neuronpedia /score server', () => {
  it('scores the local AV\'s explanations through /score', async () => {
    const engine = await createEngine(dir);
    try {
      expect(engine.capabilities().nla).toMatchObject({ av_backend: 'onnx', ar_backend: 'neuronpedia' });
      const [result] = await engine.analyzeBatch([{ prompt: 'A kludge is a clumsy fix.', top_k: 2, nla_samples: 1, return_activations: false }]);
      expect(result).not.toBeInstanceOf(Error);
      const [explanation] = (result as { positions: Array<{ explanations: Array<{ text: string; ar: { cosine: number } }> }> }).positions[0].explanations;
      expect(explanation.ar.cosine).toBeCloseTo(fakeCosine(explanation.text), 6);
      expect(np.violations).toEqual([]);
      expect(np.requests.map((r) => r.path)).toEqual(['/score']);
      expect(np.requests[0].body.description).toBe(explanation.text);
    } finally {
      await engine.close();
    }
  });

  it('named as an ONNX AR instead, the worker refuses to start and says how to serve it', async () => {
    const manifest = path.join(dir, 'manifest.yaml');
    const served = readFileSync(manifest, 'utf8');
    try {
      writeFileSync(manifest, served.replace(/ar: \{path: nla\/ar, backend: neuronpedia[^}]*\}/, 'ar: {path: nla/ar, backend: onnx}'));
      await expect(createEngine(dir)).rejects.toThrow(/nla\.ar\.backend: .*is a released AR .*Serve it with Neuronpedia's NLA server/);
    } finally {
      writeFileSync(manifest, served);
    }
  });
});
