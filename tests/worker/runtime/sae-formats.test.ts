/**
 * Bad SAE folders and label exports: each is refused when the manifest loads (or, for array
 * bytes that only a full read can check, when the weights are read), naming the file and the
 * field. Copies of the owner-written fixtures are broken one way at a time.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { loadLabels } from '../../../src/worker/runtime/labels';
import { loadManifest } from '../../../src/worker/runtime/manifest';
import { ManifestError } from '../../../src/worker/runtime/manifest-files';
import { encodeSafetensors, readTensors } from '../../../src/worker/runtime/safetensors';
import { loadSaeFolder, readSaeWeights } from '../../../src/worker/runtime/sae-formats';
import { writeFixtureStack } from './fixtures';

const FIXTURES = path.resolve(__dirname, '../../fixtures/sae-owners');
const EXPORT = path.join(FIXTURES, 'neuronpedia-export/tiny-model/3-tiny-res-12/explanations');
const tmp = mkdtempSync(path.join(tmpdir(), 'confab-sae-formats-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
/** A fresh copy of one fixture folder. */
function copy(name: string): string {
  const dir = path.join(tmp, `${n++}-${path.basename(name)}`);
  cpSync(path.join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

function editJson(file: string, change: (o: Record<string, unknown>) => void): void {
  const o = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  change(o);
  writeFileSync(file, JSON.stringify(o));
}

/** Rewrite a safetensors file with some tensors changed or dropped. */
function rewriteTensors(file: string, change: (t: Record<string, { shape: number[]; data: Float32Array | Float64Array; dtype?: 'F64' | 'F32' }>) => void): void {
  const t = Object.fromEntries([...readTensors(file, ['W_enc', 'W_dec', 'b_enc', 'b_dec', 'threshold', 'b_gate', 'b_mag', 'r_mag'].filter((k) => readFileSync(file).includes(`"${k}"`)))].map(([k, v]) => [k, { shape: v.shape, data: v.data }]));
  change(t);
  writeFileSync(file, encodeSafetensors(t));
}

function refusal(run: () => unknown): ManifestError {
  try {
    run();
  } catch (err) {
    if (!(err instanceof ManifestError)) throw err;
    return err;
  }
  throw new Error('accepted');
}

describe('SAE folders that are refused at load, with the file and the field named', () => {
  it('an unknown architecture', () => {
    const dir = copy('saelens-6-standard');
    editJson(path.join(dir, 'cfg.json'), (o) => (o.architecture = 'jumprelu_transcoder'));
    const err = refusal(() => loadSaeFolder(dir));
    expect(err.file).toBe(path.join(dir, 'cfg.json'));
    expect(err.field).toBe('architecture');
    expect(err.message).toMatch(/"jumprelu_transcoder" is not an SAE architecture this worker runs; it runs standard, jumprelu, topk, gated/);
  });

  it('a jumprelu SAE without its threshold', () => {
    const dir = copy('saelens-6-jumprelu');
    rewriteTensors(path.join(dir, 'sae_weights.safetensors'), (t) => delete t.threshold);
    const err = refusal(() => loadSaeFolder(dir));
    expect(err.file).toBe(path.join(dir, 'sae_weights.safetensors'));
    expect(err.message).toMatch(/threshold: tensor is missing; a jumprelu SAE needs a threshold tensor \(the file has: [\w, ]+\)$/);
  });

  it('gated tensors under a cfg that says standard: b_enc is missing, and the message says the file is gated', () => {
    const dir = copy('saelens-6-gated');
    editJson(path.join(dir, 'cfg.json'), (o) => (o.architecture = 'standard'));
    const err = refusal(() => loadSaeFolder(dir));
    expect(err.field).toBe('b_enc');
    expect(err.message).toMatch(/the file has b_gate, b_mag and r_mag: a gated SAE, but the cfg says "standard"/);
  });

  it('a gated cfg over standard tensors', () => {
    const dir = copy('saelens-6-standard');
    editJson(path.join(dir, 'cfg.json'), (o) => (o.architecture = 'gated'));
    expect(refusal(() => loadSaeFolder(dir)).message).toMatch(/sae_weights\.safetensors: b_gate: tensor is missing; a gated SAE needs b_gate, b_mag and r_mag/);
  });

  it('a tensor of the wrong shape', () => {
    const dir = copy('saelens-6-standard');
    rewriteTensors(path.join(dir, 'sae_weights.safetensors'), (t) => (t.b_dec = { shape: [7], data: new Float32Array(7) }));
    expect(refusal(() => loadSaeFolder(dir)).message).toMatch(/b_dec: has shape \[7\]; \[d_in 8\] expected/);
  });

  it('an integer tensor', () => {
    const dir = copy('saelens-6-standard');
    const file = path.join(dir, 'sae_weights.safetensors');
    const bytes = readFileSync(file);
    const at = bytes.indexOf('"b_enc":{"dtype":"F32"');
    bytes.write('"b_enc":{"dtype":"I32"', at);
    writeFileSync(file, bytes);
    expect(refusal(() => loadSaeFolder(dir)).message).toMatch(/b_enc: is I32; SAE weights must be float \(F64, F32, F16 or BF16\)/);
  });

  it('float64 weights that float32 cannot hold are refused when the manifest loads, not when the engine starts', () => {
    const dir = copy('saelens-6-float64');
    rewriteTensors(path.join(dir, 'sae_weights.safetensors'), (t) => {
      for (const v of Object.values(t)) v.dtype = 'F64';
      t.W_enc.data = Float64Array.from(t.W_enc.data, (v, i) => (i === 5 ? 1e300 : v));
    });
    const err = refusal(() => loadSaeFolder(dir));
    expect(err.field).toBe('W_enc');
    expect(err.message).toMatch(/element 5 is not finite in float32/);
  });

  it('a cfg.json that is not JSON, a d_in of the wrong type, an unknown dtype', () => {
    const broken = copy('saelens-6-standard');
    writeFileSync(path.join(broken, 'cfg.json'), '{"d_in": 8,');
    expect(refusal(() => loadSaeFolder(broken)).message).toMatch(/cfg\.json: is not valid JSON/);
    const typed = copy('saelens-6-standard');
    editJson(path.join(typed, 'cfg.json'), (o) => (o.d_in = '8'));
    expect(refusal(() => loadSaeFolder(typed)).field).toBe('d_in');
    const dtype = copy('saelens-6-standard');
    editJson(path.join(dtype, 'cfg.json'), (o) => (o.dtype = 'int8'));
    expect(refusal(() => loadSaeFolder(dtype)).message).toMatch(/cfg\.json: dtype: "int8" is not one SAELens loads/);
  });

  it('a folder with no weights, and SAELens weights without their cfg.json', () => {
    const empty = path.join(tmp, 'empty');
    mkdirSync(empty);
    expect(refusal(() => loadSaeFolder(empty)).message).toMatch(/holds none of sae_weights\.safetensors, params\.safetensors, params\.npz/);
    const noCfg = copy('saelens-6-standard');
    rmSync(path.join(noCfg, 'cfg.json'));
    expect(refusal(() => loadSaeFolder(noCfg)).message).toMatch(/cfg\.json: does not exist/);
  });

  it('a fine-tuned scaling factor is refused; SAELens 3.x\'s all-ones scaling_factor is accepted', () => {
    const flagged = copy('saelens-3-bool-normalize');
    editJson(path.join(flagged, 'cfg.json'), (o) => (o.finetuning_scaling_factor = true));
    expect(refusal(() => loadSaeFolder(flagged)).field).toBe('finetuning_scaling_factor');
    const ones = copy('saelens-3-bool-normalize');
    rewriteTensors(path.join(ones, 'sae_weights.safetensors'), (t) => (t.scaling_factor = { shape: [12], data: new Float32Array(12).fill(1) }));
    expect(loadSaeFolder(ones).cfg.architecture).toBe('standard');
    const tuned = copy('saelens-3-bool-normalize');
    rewriteTensors(path.join(tuned, 'sae_weights.safetensors'), (t) => (t.scaling_factor = { shape: [12], data: new Float32Array(12).fill(1.5) }));
    expect(refusal(() => loadSaeFolder(tuned)).field).toBe('scaling_factor');
  });
});

describe('expected_average_only_in needs the registry factor', () => {
  it('without sae.norm_scaling_factor the load stops and says where SAELens keeps it', () => {
    const err = refusal(() => loadSaeFolder(path.join(FIXTURES, 'saelens-5-expected-average'), { manifestFile: '/srv/models/manifest.yaml' }));
    expect(err.file).toBe('/srv/models/manifest.yaml');
    expect(err.field).toBe('sae.norm_scaling_factor');
    expect(err.message).toMatch(/normalize_activations "expected_average_only_in".*registry \(sae_lens\/pretrained_saes\.yaml: the norm_scaling_factor of this SAE's id under its release\)/);
  });

  it("SAELens 3.x's normalize_activations true means the same, and false means none", () => {
    const dir = copy('saelens-3-bool-normalize');
    expect(loadSaeFolder(dir).cfg.normalizeActivations).toBe('none');
    editJson(path.join(dir, 'cfg.json'), (o) => (o.normalize_activations = true));
    expect(refusal(() => loadSaeFolder(dir)).message).toMatch(/normalize_activations true, so SAELens multiplies every input/);
    expect(loadSaeFolder(dir, { normScalingFactor: 0.5 }).cfg).toMatchObject({ normalizeActivations: 'expected_average_only_in', scalingFactor: 0.5 });
  });

  it('a factor given for an SAE that does not normalize is refused (it would scale twice)', () => {
    expect(refusal(() => loadSaeFolder(path.join(FIXTURES, 'saelens-6-standard'), { normScalingFactor: 0.2 })).message).toMatch(/sae\.norm_scaling_factor: is set, but the SAE's normalize_activations is none/);
  });

  it('the manifest carries it: sae.norm_scaling_factor', () => {
    const stack = writeFixtureStack({ layer: 3 });
    try {
      rmSync(path.join(stack, 'sae'), { recursive: true });
      cpSync(path.join(FIXTURES, 'saelens-5-expected-average'), path.join(stack, 'sae'), { recursive: true });
      const manifest = path.join(stack, 'manifest.yaml');
      const text = readFileSync(manifest, 'utf8');
      writeFileSync(manifest, text.replace('sae: {path: sae, labels: sae/labels.json}', 'sae: {path: sae}'));
      const err = refusal(() => loadManifest(manifest));
      expect(err.file).toBe(manifest);
      expect(err.field).toBe('sae.norm_scaling_factor');
      writeFileSync(manifest, text.replace('sae: {path: sae, labels: sae/labels.json}', 'sae: {path: sae, norm_scaling_factor: 0.1137}'));
      expect(loadManifest(manifest).sae.cfg).toMatchObject({ normalizeActivations: 'expected_average_only_in', scalingFactor: 0.1137 });
    } finally {
      rmSync(stack, { recursive: true, force: true });
    }
  });
});

describe('bad params.npz archives', () => {
  const npz = (dir: string) => path.join(dir, 'params.npz');

  it('not a ZIP archive', () => {
    const dir = copy('gemma-scope-npz');
    writeFileSync(npz(dir), Buffer.from('this is not an npz file, just text'));
    const err = refusal(() => loadSaeFolder(dir));
    expect(err.file).toBe(npz(dir));
    expect(err.message).toMatch(/no ZIP end-of-central-directory record: not a ZIP archive/);
  });

  it('a truncated archive', () => {
    const dir = copy('gemma-scope-npz');
    const bytes = readFileSync(npz(dir));
    writeFileSync(npz(dir), bytes.subarray(0, bytes.length - 200));
    expect(refusal(() => loadSaeFolder(dir)).file).toBe(npz(dir));
  });

  it('an integer array', () => {
    const dir = copy('gemma-scope-npz');
    const bytes = readFileSync(npz(dir));
    const at = bytes.indexOf("'descr': '<f4'", bytes.indexOf('threshold.npy'));
    bytes.write("'descr': '<i4'", at);
    writeFileSync(npz(dir), bytes);
    expect(refusal(() => loadSaeFolder(dir)).message).toMatch(/threshold\.npy: dtype '<i4' is not a float type/);
  });

  it('an array whose shape does not match its bytes', () => {
    const dir = copy('gemma-scope-npz');
    const bytes = readFileSync(npz(dir));
    const at = bytes.indexOf("'shape': (12,)", bytes.indexOf('b_enc.npy'));
    bytes.write("'shape': (13,)", at);
    writeFileSync(npz(dir), bytes);
    expect(refusal(() => loadSaeFolder(dir)).message).toMatch(/b_enc\.npy: shape \(13\) of F32 needs 52 bytes after the header; the entry holds 48/);
  });

  it('corrupt array bytes fail the CRC check when the weights are read, naming the array', () => {
    const dir = copy('gemma-scope-npz');
    const bytes = readFileSync(npz(dir));
    const header = bytes.indexOf('NUMPY', bytes.indexOf('W_dec.npy'));
    bytes[header + 200] ^= 0xff;
    writeFileSync(npz(dir), bytes);
    const { cfg, weights } = loadSaeFolder(dir);
    expect(() => readSaeWeights(cfg, weights)).toThrow(/params\.npz: array "W_dec" fails its CRC check/);
  });
});

describe('bad Neuronpedia explanation exports', () => {
  function exportWith(files: Record<string, Buffer | string>): string {
    const dir = path.join(tmp, `export-${n++}`, 'explanations');
    mkdirSync(dir, { recursive: true });
    for (const [name, body] of Object.entries(files)) writeFileSync(path.join(dir, name), body);
    return dir;
  }
  const row = (index: unknown, extra: Record<string, unknown> = {}) => JSON.stringify({ modelId: 'tiny-model', layer: '3-tiny-res-12', index, description: `d${index}`, ...extra });

  it('a corrupt gzip batch is refused with its file named', () => {
    const good = readFileSync(path.join(EXPORT, 'batch-1.jsonl.gz'));
    const dir = exportWith({ 'batch-0.jsonl.gz': readFileSync(path.join(EXPORT, 'batch-0.jsonl.gz')), 'batch-1.jsonl.gz': good.subarray(0, good.length - 9) });
    const err = refusal(() => loadLabels(path.dirname(dir), 12));
    expect(err.file).toBe(path.join(dir, 'batch-1.jsonl.gz'));
    expect(err.message).toMatch(/is not a readable gzip file/);
  });

  it('a .gz without a gzip header', () => {
    const dir = exportWith({ 'batch-0.jsonl.gz': `${row('1')}\n` });
    expect(refusal(() => loadLabels(dir)).message).toMatch(/batch-0\.jsonl\.gz: has no gzip header/);
  });

  it('a line that is not JSON, an index that is not one, a description missing', () => {
    const bad = exportWith({ 'batch-0.jsonl.gz': gzipSync(`${row('1')}\n{"index": "2", \n`) });
    expect(refusal(() => loadLabels(bad)).field).toBe('line 2');
    const index = exportWith({ 'batch-0.jsonl.gz': gzipSync(`${row('feature-3')}\n`) });
    expect(refusal(() => loadLabels(index)).message).toMatch(/line 1\.index: is "feature-3"; a feature index/);
    const desc = exportWith({ 'batch-0.jsonl.gz': gzipSync(`${row('1', { description: null })}\n`) });
    expect(refusal(() => loadLabels(desc)).field).toBe('line 1.description');
  });

  it('mixed sources, an index outside the SAE, an empty folder, an export with no rows', () => {
    const mixed = exportWith({ 'batch-0.jsonl.gz': gzipSync(`${row('1')}\n`), 'batch-1.jsonl.gz': gzipSync(`${row('2', { layer: '5-other' })}\n`) });
    expect(refusal(() => loadLabels(mixed)).message).toMatch(/mixes sources: tiny-model\/5-other here, tiny-model\/3-tiny-res-12 in/);
    const outside = exportWith({ 'batch-0.jsonl.gz': gzipSync(`${row('12')}\n`) });
    expect(refusal(() => loadLabels(outside, 12)).message).toMatch(/index: 12 is outside the SAE's 12 features/);
    const empty = exportWith({});
    expect(refusal(() => loadLabels(empty)).message).toMatch(/holds no batch-N\.jsonl\.gz files/);
    const blank = exportWith({ 'batch-0.jsonl.gz': gzipSync('') });
    expect(refusal(() => loadLabels(blank)).message).toMatch(/holds no explanations/);
  });

  it('the manifest reads an export folder as sae.labels, and refuses a corrupt one at load', () => {
    const stack = writeFixtureStack({ dSae: 12 });
    try {
      rmSync(path.join(stack, 'sae'), { recursive: true });
      cpSync(path.join(FIXTURES, 'gemma-scope-npz'), path.join(stack, 'sae'), { recursive: true });
      cpSync(EXPORT, path.join(stack, 'np-export/explanations'), { recursive: true });
      const manifest = path.join(stack, 'manifest.yaml');
      writeFileSync(manifest, readFileSync(manifest, 'utf8').replace('labels: sae/labels.json', 'labels: np-export'));
      const m = loadManifest(manifest);
      expect(m.sae.labels).toBe(path.join(stack, 'np-export'));
      expect(m.sae.cfg.architecture).toBe('jumprelu');
      const batch = path.join(stack, 'np-export/explanations/batch-2.jsonl.gz');
      writeFileSync(batch, readFileSync(batch).subarray(0, 20));
      expect(refusal(() => loadManifest(manifest)).file).toBe(batch);
    } finally {
      rmSync(stack, { recursive: true, force: true });
    }
  });
});

describe('an SAE for another place in the model than the subject', () => {
  it("a hook on another block is refused, naming cfg.json's hook; resid_pre of the next block is the same place", () => {
    const dir = copy('saelens-6-standard');
    expect(loadSaeFolder(dir, { subjectLayer: 3 }).cfg.hookName).toBe('blocks.3.hook_resid_post');
    const err = refusal(() => loadSaeFolder(dir, { subjectLayer: 20 }));
    expect(err.field).toBe('metadata.hook_name');
    expect(err.message).toMatch(/is "blocks\.3\.hook_resid_post", the output of block 3; the manifest's subject\.layer is 20/);
    editJson(path.join(dir, 'cfg.json'), (o) => ((o.metadata as Record<string, unknown>).hook_name = 'blocks.4.hook_resid_pre'));
    expect(loadSaeFolder(dir, { subjectLayer: 3 }).cfg.hookName).toBe('blocks.4.hook_resid_pre');
    const old = copy('saelens-3-bool-normalize');
    expect(refusal(() => loadSaeFolder(old, { subjectLayer: 7 })).field).toBe('hook_name');
  });

  it('an attention-output SAE (hook_z) is refused', () => {
    const dir = copy('saelens-6-standard');
    editJson(path.join(dir, 'cfg.json'), (o) => (o.reshape_activations = 'hook_z'));
    expect(refusal(() => loadSaeFolder(dir)).field).toBe('reshape_activations');
  });
});

describe('an SAE of another width than the subject', () => {
  it('a Gemma Scope folder has no cfg.json: the error names the weights and W_enc', () => {
    const stack = writeFixtureStack({ d: 16, dSae: 12 });
    try {
      rmSync(path.join(stack, 'sae'), { recursive: true });
      cpSync(path.join(FIXTURES, 'gemma-scope-npz'), path.join(stack, 'sae'), { recursive: true });
      const manifest = path.join(stack, 'manifest.yaml');
      writeFileSync(manifest, readFileSync(manifest, 'utf8').replace(', labels: sae/labels.json', ''));
      const err = refusal(() => loadManifest(manifest));
      expect(err.file).toBe(path.join(stack, 'sae/params.npz'));
      expect(err.message).toMatch(/W_enc: has shape \[8, 12\] \(d_in 8\); the manifest's subject\.d_model is 16/);
    } finally {
      rmSync(stack, { recursive: true, force: true });
    }
  });
});
