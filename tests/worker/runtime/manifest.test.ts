import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadManifest } from '../../../src/worker/runtime/manifest';
import { ManifestError } from '../../../src/worker/runtime/manifest-files';
import { loadNlaMeta } from '../../../src/worker/runtime/nla-meta';
import { writeFixtureStack } from './fixtures';

const dirs: string[] = [];
function fixture(opts: Parameters<typeof writeFixtureStack>[0] = {}): string {
  const dir = writeFixtureStack(opts);
  dirs.push(dir);
  return dir;
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function edit(file: string, change: (text: string) => string) {
  writeFileSync(file, change(readFileSync(file, 'utf8')));
}

function loadError(dir: string): ManifestError {
  try {
    loadManifest(dir);
  } catch (err) {
    expect(err).toBeInstanceOf(ManifestError);
    return err as ManifestError;
  }
  throw new Error('loadManifest accepted a broken stack');
}

describe('loadManifest', () => {
  it('resolves every path relative to the manifest and reads the sidecars', () => {
    const dir = fixture();
    const m = loadManifest(path.join(dir, 'manifest.yaml'));
    expect(m.subject).toMatchObject({ onnx: path.join(dir, 'subject.onnx'), layer: 2, dModel: 8, maxTokens: 32, bosTokenId: 256, hiddenOutput: 'hidden' });
    expect(m.sae.cfg).toMatchObject({ architecture: 'topk', dIn: 8, dSae: 16, k: 4, applyBDecToInput: true, hookName: 'blocks.2.hook_resid_post' });
    expect(m.nla!.av).toMatchObject({ backend: 'onnx', onnx: path.join(dir, 'nla/av/decoder.onnx'), embedScale: 1, eosTokenIds: [257], maxNewTokens: 16 });
    expect(m.nla!.av.meta).toMatchObject({ injectionScale: 3, layerIndex: 2, tokens: { injectionChar: '㈎', injectionTokenId: 259, leftNeighborId: 60, rightNeighborId: 62 } });
    expect(m.nla!.ar.meta.arTemplate).toBe('<|bos|>{explanation}');
    expect(m.stats.B).toBe(0.5);
    expect(m.executionProvider).toBe('cpu');
    // a folder works as well as the file, and the provider can be overridden
    expect(loadManifest(dir, { executionProvider: 'cuda' }).executionProvider).toBe('cuda');
  });

  it('accepts schema_version 1 sidecars with actor/critic template keys', () => {
    const dir = fixture();
    const file = path.join(dir, 'nla/av/nla_meta.yaml');
    edit(file, (t) => t.replace('schema_version: 2', 'schema_version: 1').replace('  av:', '  actor:').replace('  ar:', '  critic:'));
    const meta = loadNlaMeta(file);
    expect(meta.avTemplate).toContain('{injection_char}');
    expect(meta.arTemplate).toBe('<|bos|>{explanation}');
    expect(() => loadManifest(dir)).not.toThrow();
  });
});

describe('remote backends in the manifest', () => {
  it('keeps backend-specific keys for the registry, and a remote AR may omit its folder', () => {
    const dir = fixture();
    edit(path.join(dir, 'manifest.yaml'), (t) =>
      t
        .replace('backend: onnx, onnx: decoder.onnx,', 'backend: vllm, url: "http://gpu-1:8000", model: qwen-av,')
        .replace('ar: {path: nla/ar, backend: onnx, onnx: ar.onnx}', 'ar: {backend: neuronpedia, url: "http://gpu-1:5001"}'),
    );
    const m = loadManifest(dir);
    expect(m.nla!.av).toMatchObject({ backend: 'vllm', onnx: null, options: { url: 'http://gpu-1:8000', model: 'qwen-av' } });
    expect(m.nla!.ar).toMatchObject({ backend: 'neuronpedia', onnx: null, options: { url: 'http://gpu-1:5001' } });
    expect(m.nla!.ar.meta.role).toBe('ar');
    edit(path.join(dir, 'manifest.yaml'), (t) => t.replace('ar: {backend: neuronpedia, url: "http://gpu-1:5001"}', 'ar: {backend: onnx}'));
    expect(() => loadManifest(dir)).toThrow(/nla\.ar\.path: the onnx AR needs its folder/);
  });
});

describe('malformed artifacts name the file and the field', () => {
  it('a missing file', () => {
    const dir = fixture();
    rmSync(path.join(dir, 'subject.onnx'));
    const err = loadError(dir);
    expect(err.message).toBe(`${path.join(dir, 'manifest.yaml')}: subject.onnx: file ${path.join(dir, 'subject.onnx')} does not exist`);
  });

  it('a missing embeddings file in the AV folder', () => {
    const dir = fixture();
    rmSync(path.join(dir, 'nla/av/model.safetensors'));
    expect(loadError(dir).message).toMatch(/manifest\.yaml: nla\.av\.embeddings: file .*nla\/av\/model\.safetensors does not exist/);
  });

  it('a wrong d_model in stats.json', () => {
    const dir = fixture();
    edit(path.join(dir, 'stats.json'), (t) => t.replace('"d_model":8', '"d_model":16'));
    const err = loadError(dir);
    expect(err.file).toBe(path.join(dir, 'stats.json'));
    expect(err.message).toMatch(/stats\.json: d_model: is 16; the manifest's subject\.d_model is 8/);
  });

  it('a wrong d_model in an NLA sidecar', () => {
    const dir = fixture();
    edit(path.join(dir, 'nla/ar/nla_meta.yaml'), (t) => t.replace('d_model: 8', 'd_model: 3584'));
    expect(loadError(dir).message).toMatch(/nla\/ar\/nla_meta\.yaml: d_model: is 3584; the manifest's subject\.d_model is 8/);
  });

  it('a wrong d_in in the SAE cfg.json', () => {
    const dir = fixture({ saeCfg: { d_in: 16 } });
    expect(loadError(dir).message).toMatch(/sae_weights\.safetensors: W_enc: has shape \[8,16\]; \[d_in 16, d_sae 16\] expected/);
  });

  it('an AV sidecar without an injection token', () => {
    const dir = fixture();
    edit(path.join(dir, 'nla/av/nla_meta.yaml'), (t) => t.replace(/^tokens:.*\n/m, ''));
    const err = loadError(dir);
    expect(err.file).toBe(path.join(dir, 'nla/av/nla_meta.yaml'));
    expect(err.message).toMatch(/nla_meta\.yaml: tokens: an AV sidecar needs tokens\.injection_char and tokens\.injection_token_id/);
  });

  it('an injection token without its id', () => {
    const dir = fixture();
    edit(path.join(dir, 'nla/av/nla_meta.yaml'), (t) => t.replace('injection_token_id: 259, ', ''));
    expect(loadError(dir).message).toMatch(/nla_meta\.yaml: tokens\.injection_token_id: /);
  });

  it('an SAE cfg.json with an unknown architecture', () => {
    const dir = fixture({ saeCfg: { architecture: 'transcoder' } });
    const err = loadError(dir);
    expect(err.message).toMatch(`${path.join(dir, 'sae/cfg.json')}: architecture: "transcoder" is not an SAE architecture this worker runs; it runs standard, jumprelu, topk, gated`);
  });

  it('an unknown normalize_activations mode', () => {
    const dir = fixture({ saeCfg: { normalize_activations: 'whiten' } });
    expect(loadError(dir).message).toMatch(/cfg\.json: normalize_activations: "whiten" is not supported/);
  });

  it('a manifest field of the wrong type', () => {
    const dir = fixture();
    edit(path.join(dir, 'manifest.yaml'), (t) => t.replace('max_tokens: 32', 'max_tokens: lots'));
    expect(loadError(dir).message).toMatch(/manifest\.yaml: subject\.max_tokens: /);
  });

  it('a sidecar from a newer schema', () => {
    const dir = fixture();
    edit(path.join(dir, 'nla/av/nla_meta.yaml'), (t) => t.replace('schema_version: 2', 'schema_version: 3'));
    expect(loadError(dir).message).toMatch(/schema_version: is 3; this worker reads versions 1 and 2/);
  });

  it('an AV template without the placeholder, and a layer mismatch', () => {
    const dir = fixture({ avTemplate: '<|bos|>no site here<explanation>' });
    expect(loadError(dir).message).toMatch(/prompt_templates\.av: has no \{injection_char\} placeholder/);
    const dir2 = fixture();
    edit(path.join(dir2, 'nla/av/nla_meta.yaml'), (t) => t.replace('layer_index: 2', 'layer_index: 20'));
    expect(loadError(dir2).message).toMatch(/extraction\.layer_index: is 20; the manifest's subject\.layer is 2/);
  });
});
