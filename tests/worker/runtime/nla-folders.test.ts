/**
 * NLA checkpoint folders laid out as the release publishes them: a sharded AV read through
 * `model.safetensors.index.json`, and a released AR (Hugging Face checkpoint plus
 * `value_head.safetensors`) served behind a Neuronpedia `/score` server.
 */
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AvPromptBuilder } from '../../../src/worker/runtime/embeddings';
import { loadManifest } from '../../../src/worker/runtime/manifest';
import { ManifestError } from '../../../src/worker/runtime/manifest-files';
import { encodeSafetensors } from '../../../src/worker/runtime/safetensors';
import { Tokenizer } from '../../../src/worker/runtime/tokenizer';
import { randomArray, SPECIALS, writeFixtureStack } from './fixtures';

const RELEASE = path.join(import.meta.dirname, 'nla-release', 'tiny-L2');
const D = 8;
const V = 256 + SPECIALS.length;
const SHARD1 = 'model-00001-of-00002.safetensors';
const SHARD2 = 'model-00002-of-00002.safetensors';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Row v of the table holds v + j/100, so a row read from the wrong place shows. */
function table(): Float32Array {
  const emb = new Float32Array(V * D);
  for (let v = 0; v < V; v++) for (let j = 0; j < D; j++) emb[v * D + j] = v + j / 100;
  return emb;
}

interface ReleaseOptions {
  shape?: 'published' | 'training';
  layer?: number;
  embeddingName?: string;
  arBlocks?: number;
  arBackend?: string;
}

/**
 * The tiny stack with its NLA folders replaced by release-shaped ones: the AV sharded in two,
 * its embedding table in the second shard; the AR a truncated checkpoint with its value head.
 */
function releaseStack(opts: ReleaseOptions = {}): string {
  const dir = writeFixtureStack({ layer: opts.layer ?? 2 });
  dirs.push(dir);
  const shape = opts.shape ?? 'published';
  const av = path.join(dir, 'nla/av');
  const ar = path.join(dir, 'nla/ar');
  for (const f of ['model.safetensors', 'decoder.onnx']) rmSync(path.join(av, f));
  rmSync(path.join(ar, 'ar.onnx'));
  copyFileSync(path.join(RELEASE, shape, 'av/nla_meta.yaml'), path.join(av, 'nla_meta.yaml'));
  copyFileSync(path.join(RELEASE, shape, 'ar/nla_meta.yaml'), path.join(ar, 'nla_meta.yaml'));

  const embName = opts.embeddingName ?? 'model.embed_tokens.weight';
  writeFileSync(path.join(av, 'config.json'), JSON.stringify({ model_type: 'qwen2', hidden_size: D, num_hidden_layers: 4, vocab_size: V }));
  writeFileSync(path.join(av, SHARD1), encodeSafetensors({ 'model.layers.0.mlp.down_proj.weight': { shape: [D, D], data: randomArray(D * D, 5), dtype: 'BF16' } }));
  writeFileSync(path.join(av, SHARD2), encodeSafetensors({ [embName]: { shape: [V, D], data: table(), dtype: 'BF16' }, 'lm_head.weight': { shape: [V, D], data: randomArray(V * D, 6) } }));
  writeIndex(av, { 'model.layers.0.mlp.down_proj.weight': SHARD1, [embName]: SHARD2, 'lm_head.weight': SHARD2 });

  writeFileSync(path.join(ar, 'config.json'), JSON.stringify({ model_type: 'qwen2', hidden_size: D, num_hidden_layers: opts.arBlocks ?? 3 }));
  writeFileSync(path.join(ar, 'model.safetensors'), encodeSafetensors({ 'model.embed_tokens.weight': { shape: [V, D], data: table() } }));
  writeFileSync(path.join(ar, 'value_head.safetensors'), encodeSafetensors({ weight: { shape: [D, D], data: randomArray(D * D, 7), dtype: 'BF16' } }));

  const manifest = path.join(dir, 'manifest.yaml');
  writeFileSync(
    manifest,
    readFileSync(manifest, 'utf8')
      .replace(/^ {2}av: .*$/m, '  av: {path: nla/av, backend: sglang, url: "http://gpu-1:30000", eos_token_id: 257}')
      .replace(/^ {2}ar: .*$/m, `  ar: {path: nla/ar, backend: ${opts.arBackend ?? 'neuronpedia'}, url: "http://gpu-1:5009"}`),
  );
  return dir;
}

function writeIndex(dir: string, weightMap: unknown, extra: Record<string, unknown> = {}) {
  writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap, ...extra }));
}

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

describe('a sharded AV is read through its index', () => {
  it('finds the embedding rows in the shard the index names, without embeddings or embedding_key in the manifest', async () => {
    const dir = releaseStack();
    const m = loadManifest(dir);
    const av = m.nla!.av;
    expect(av).toMatchObject({ backend: 'sglang', embeddings: path.join(dir, 'nla/av', SHARD2), embeddingKey: 'model.embed_tokens.weight' });
    expect(av.meta).toMatchObject({ role: 'av', injectionScale: 3, layerFields: [{ field: 'extraction_layer_index', value: 2 }] });

    const tokenizer = Tokenizer.fromFile(m.subject.tokenizer);
    const builder = await AvPromptBuilder.open(av, tokenizer, D);
    const ids = Array.from(builder.tokenIds);
    expect(ids.slice(0, 5)).toEqual([...Buffer.from('act <')]);
    expect(ids[builder.site]).toBe(259);
    const prompt = builder.build(Float32Array.from({ length: D }, (_, j) => j + 1));
    for (let t = 0; t < prompt.T; t++) {
      const row = prompt.embeds.subarray(t * D, (t + 1) * D);
      if (t === builder.site) expect(Math.hypot(...row)).toBeCloseTo(3, 5);
      // bf16 keeps about 3 significant digits
      else row.forEach((x, j) => expect(x).toBeCloseTo(ids[t] + j / 100, 0));
    }
    expect(prompt.embeds[0]).toBeCloseTo('a'.charCodeAt(0), 0);
  });

  it('finds the table under an architecture prefix (Gemma 3 nests it under language_model.)', () => {
    const dir = releaseStack({ embeddingName: 'language_model.model.embed_tokens.weight' });
    expect(loadManifest(dir).nla!.av.embeddingKey).toBe('language_model.model.embed_tokens.weight');
  });

  it('an explicit index and key in the manifest work as well', () => {
    const dir = releaseStack();
    edit(path.join(dir, 'manifest.yaml'), (t) => t.replace('eos_token_id: 257}', 'eos_token_id: 257, embeddings: model.safetensors.index.json, embedding_key: model.embed_tokens.weight}'));
    expect(loadManifest(dir).nla!.av.embeddings).toBe(path.join(dir, 'nla/av', SHARD2));
  });

  it('the training code\'s folders (role actor/critic) load the same way', () => {
    const m = loadManifest(releaseStack({ shape: 'training' }));
    expect(m.nla!.av.meta.role).toBe('av');
    expect(m.nla!.ar.meta).toMatchObject({ role: 'ar', layerFields: [{ field: 'critic.extraction_layer_index', value: 2 }] });
  });
});

describe('broken shard indexes are refused with the file and the field', () => {
  const index = (dir: string) => path.join(dir, 'nla/av/model.safetensors.index.json');
  const cases: Array<[string, (dir: string) => void, (dir: string) => RegExp | string]> = [
    ['an index that is not JSON', (d) => writeFileSync(index(d), '{"weight_map": '), () => /model\.safetensors\.index\.json: is not valid JSON/],
    ['an index without weight_map', (d) => writeFileSync(index(d), '{"metadata": {}}'), () => /model\.safetensors\.index\.json: weight_map: /],
    ['a shard name of the wrong type', (d) => writeIndex(path.join(d, 'nla/av'), { 'model.embed_tokens.weight': 2 }), () => /index\.json: weight_map\.model\.embed_tokens\.weight: /],
    ['a shard that does not exist', (d) => rmSync(path.join(d, 'nla/av', SHARD2)), (d) => `${index(d)}: weight_map.model.embed_tokens.weight: file ${path.join(d, 'nla/av', SHARD2)} does not exist`],
    [
      'a shard outside the folder',
      (d) => writeIndex(path.join(d, 'nla/av'), { 'model.embed_tokens.weight': `../${SHARD2}` }),
      () => /weight_map\.model\.embed_tokens\.weight: is "\.\.\/model-00002-of-00002\.safetensors"; a shard must be a file in the index's own folder/,
    ],
    [
      'an index that places the table in the wrong shard',
      (d) => writeIndex(path.join(d, 'nla/av'), { 'model.embed_tokens.weight': SHARD1 }),
      (d) => `${path.join(d, 'nla/av', SHARD1)}: model.embed_tokens.weight: tensor is missing, though model.safetensors.index.json places it in this shard`,
    ],
    ['no embedding table at all', (d) => writeIndex(path.join(d, 'nla/av'), { 'lm_head.weight': SHARD2 }), () => /index\.json: weight_map: has no tensor named like an input embedding .*; set nla\.av\.embedding_key/],
    [
      'two embedding tables',
      (d) => writeIndex(path.join(d, 'nla/av'), { 'model.embed_tokens.weight': SHARD2, 'vision_tower.embed_tokens.weight': SHARD2 }),
      () => /weight_map: has several embedding tensors \(model\.embed_tokens\.weight, vision_tower\.embed_tokens\.weight\); set nla\.av\.embedding_key/,
    ],
    [
      'an embedding_key the index lacks',
      (d) => edit(path.join(d, 'manifest.yaml'), (t) => t.replace('eos_token_id: 257}', 'eos_token_id: 257, embedding_key: wte.weight}')),
      () => /index\.json: weight_map\.wte\.weight: tensor is missing \(set nla\.av\.embedding_key\)/,
    ],
    [
      'no index and no model.safetensors',
      (d) => rmSync(index(d)),
      (d) => `${path.join(d, 'manifest.yaml')}: nla.av.embeddings: is not set, and ${path.join(d, 'nla/av')} has neither model.safetensors.index.json nor model.safetensors`,
    ],
    [
      'a table of the wrong width',
      (d) => writeFileSync(path.join(d, 'nla/av', SHARD2), encodeSafetensors({ 'model.embed_tokens.weight': { shape: [V, 4], data: new Float32Array(V * 4) } })),
      () => /model-00002-of-00002\.safetensors: model\.embed_tokens\.weight: has shape \[260,4\]; \[vocab, 8\] expected/,
    ],
    ['a shard that is not safetensors', (d) => writeFileSync(path.join(d, 'nla/av', SHARD2), 'not a safetensors file at all'), () => /model-00002-of-00002\.safetensors: header length \d+ does not fit/],
    [
      'a table too small for the injection token',
      (d) => writeFileSync(path.join(d, 'nla/av', SHARD2), encodeSafetensors({ 'model.embed_tokens.weight': { shape: [200, D], data: new Float32Array(200 * D) } })),
      () => /nla\/av\/nla_meta\.yaml: tokens\.injection_token_id: 259 is outside the embedding table \(200 rows\)/,
    ],
  ];
  it.each(cases)('%s', (_, breakIt, expected) => {
    const dir = releaseStack();
    breakIt(dir);
    const message = loadError(dir).message;
    const want = expected(dir);
    if (typeof want === 'string') expect(message).toBe(want);
    else expect(message).toMatch(want);
  });
});

describe('a released AR folder goes to a Neuronpedia /score server', () => {
  it('loads as backend neuronpedia, its sidecar and depth checked', () => {
    const m = loadManifest(releaseStack());
    expect(m.nla!.ar).toMatchObject({ backend: 'neuronpedia', onnx: null, options: { url: 'http://gpu-1:5009' } });
    expect(m.nla!.ar.meta).toMatchObject({ role: 'ar', criticSuffixIds: [...Buffer.from('/text> <summary>')] });
  });

  it('given as an ONNX AR, it is refused with the way to serve it', () => {
    const dir = releaseStack({ arBackend: 'onnx' });
    const err = loadError(dir);
    expect(err.file).toBe(path.join(dir, 'manifest.yaml'));
    expect(err.field).toBe('nla.ar.backend');
    expect(err.message).toContain(`${path.join(dir, 'nla/ar')} is a released AR (a Hugging Face checkpoint plus value_head.safetensors), which this worker cannot run as ONNX.`);
    expect(err.message).toContain(`Serve it with Neuronpedia's NLA server (NLA_RECONSTRUCTOR_MODEL=${path.join(dir, 'nla/ar')}) and set nla.ar.backend: neuronpedia`);
    // naming one of its safetensors files as the graph does not make it one
    edit(path.join(dir, 'manifest.yaml'), (t) => t.replace('backend: onnx,', 'backend: onnx, onnx: model.safetensors,'));
    expect(loadError(dir).field).toBe('nla.ar.backend');
  });

  it('an ONNX export placed in the released folder is run as ONNX', () => {
    const dir = releaseStack({ arBackend: 'onnx' });
    writeFileSync(path.join(dir, 'nla/ar/ar.onnx'), 'placeholder');
    edit(path.join(dir, 'manifest.yaml'), (t) => t.replace('backend: onnx,', 'backend: onnx, onnx: ar.onnx,'));
    expect(loadManifest(dir).nla!.ar.onnx).toBe(path.join(dir, 'nla/ar/ar.onnx'));
  });

  it('a checkpoint whose block count does not fit the subject layer is refused', () => {
    const dir = releaseStack({ arBlocks: 21 });
    expect(loadError(dir).message).toBe(`${path.join(dir, 'nla/ar/config.json')}: num_hidden_layers: is 21; an AR for the manifest's subject.layer 2 keeps 3 blocks`);
    writeFileSync(path.join(dir, 'nla/ar/config.json'), JSON.stringify({ text_config: { num_hidden_layers: 4 } }));
    expect(loadError(dir).field).toBe('text_config.num_hidden_layers');
    writeFileSync(path.join(dir, 'nla/ar/config.json'), JSON.stringify({ num_hidden_layers: 'three' }));
    expect(loadError(dir).message).toMatch(/config\.json: num_hidden_layers: /);
  });

  it('sidecars whose layer disagrees with the subject are refused at start-up, naming the field', () => {
    const dir = releaseStack({ layer: 3 });
    expect(loadError(dir).message).toBe(`${path.join(dir, 'nla/av/nla_meta.yaml')}: extraction_layer_index: is 2; the manifest's subject.layer is 3`);
    const training = releaseStack({ shape: 'training', layer: 3 });
    expect(loadError(training).message).toBe(`${path.join(training, 'nla/ar/nla_meta.yaml')}: critic.extraction_layer_index: is 2; the manifest's subject.layer is 3`);
  });

  it('a sidecar with an unknown role stops the start', () => {
    const dir = releaseStack();
    edit(path.join(dir, 'nla/ar/nla_meta.yaml'), (t) => t.replace('role: ar', 'role: decoder'));
    expect(loadError(dir).message).toBe(`${path.join(dir, 'nla/ar/nla_meta.yaml')}: role: is "decoder"; allowed: av or actor (the AV), ar or critic (the AR)`);
  });
});

describe('the AV embed scale follows its config.json', () => {
  const config = (dir: string, json: unknown) => writeFileSync(path.join(dir, 'nla/av/config.json'), JSON.stringify(json));
  const setScale = (dir: string, scale: string) => edit(path.join(dir, 'manifest.yaml'), (t) => t.replace('eos_token_id: 257}', `eos_token_id: 257, embed_scale: ${scale}}`));

  it('a Gemma 3 AV gets sqrt(d) without being told; a Qwen AV gets 1', () => {
    const gemma = releaseStack();
    config(gemma, { model_type: 'gemma3', text_config: { model_type: 'gemma3_text', hidden_size: D } });
    expect(loadManifest(gemma).nla!.av.embedScale).toBeCloseTo(Math.sqrt(D), 10);
    setScale(gemma, 'sqrt_d');
    expect(loadManifest(gemma).nla!.av.embedScale).toBeCloseTo(Math.sqrt(D), 10);
    expect(loadManifest(releaseStack()).nla!.av.embedScale).toBe(1);
  });

  it('a manifest value that contradicts config.json is refused', () => {
    const gemma = releaseStack();
    config(gemma, { model_type: 'gemma3_text' });
    setScale(gemma, '1.0');
    expect(loadError(gemma).message).toBe(
      `${path.join(gemma, 'manifest.yaml')}: nla.av.embed_scale: is 1, but ${path.join(gemma, 'nla/av/config.json')} says model_type gemma3_text, whose embedding rows are used times sqrt(hidden_size); set "sqrt_d" or leave it out`,
    );
    const qwen = releaseStack();
    setScale(qwen, 'sqrt_d');
    expect(loadError(qwen).message).toMatch(/nla\.av\.embed_scale: is sqrt_d, but .*config\.json says model_type qwen2, whose embedding rows are used as they are; set 1 or leave it out$/);
  });

  it('a config.json of the wrong shape is refused by file and field', () => {
    const dir = releaseStack();
    config(dir, { model_type: 3 });
    expect(loadError(dir).message).toMatch(/nla\/av\/config\.json: model_type: /);
    writeFileSync(path.join(dir, 'nla/av/config.json'), '{');
    expect(loadError(dir).message).toMatch(/nla\/av\/config\.json: is not valid JSON/);
  });
});
