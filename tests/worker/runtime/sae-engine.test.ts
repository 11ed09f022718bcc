/**
 * Through the engine: the reference stack's SAE saved as float64 (as SAELens saves an SAE whose
 * cfg dtype is float64) and its labels as Neuronpedia's explanation export give the same
 * analysis as the shipped float32 folder and JSON labels.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnalyzeRequestSchema, type AnalyzeResponse } from '../../../src/protocol/analyze';
import { createEngine, type RuntimeEngine } from '../../../src/worker/runtime/engine';
import { encodeSafetensors, readTensors } from '../../../src/worker/runtime/safetensors';

const REFERENCE = path.resolve(import.meta.dirname, '../../../models/reference');
const dirs: string[] = [];
const engines: RuntimeEngine[] = [];
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

/** A copy of the reference stack without the NLA (the SAE path is what is compared). */
function stackCopy(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'confab-sae-engine-'));
  dirs.push(dir);
  cpSync(REFERENCE, dir, { recursive: true, filter: (src) => !/[\\/](golden|gold|nla)([\\/]|$)/.test(src.slice(REFERENCE.length)) });
  const manifest = path.join(dir, 'manifest.yaml');
  writeFileSync(manifest, readFileSync(manifest, 'utf8').replace(/^nla:\n( {2}.*\n)+/m, ''));
  return dir;
}

let shipped: RuntimeEngine;
let owners: RuntimeEngine;
let labels: { index: number; description: string }[];

beforeAll(async () => {
  const plain = stackCopy();
  const converted = stackCopy();
  const sae = path.join(converted, 'sae');
  const tensors = readTensors(path.join(sae, 'sae_weights.safetensors'), ['W_enc', 'b_enc', 'W_dec', 'b_dec']);
  writeFileSync(
    path.join(sae, 'sae_weights.safetensors'),
    encodeSafetensors(Object.fromEntries([...tensors].map(([k, t]) => [k, { shape: t.shape, data: Float64Array.from(t.data), dtype: 'F64' as const }]))),
  );
  const cfg = JSON.parse(readFileSync(path.join(sae, 'cfg.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(path.join(sae, 'cfg.json'), JSON.stringify({ ...cfg, dtype: 'float64' }));

  // Neuronpedia's export: string indices sorted as text, 1024 rows a batch, a later second
  // explanation of one feature (which must not replace the first).
  labels = JSON.parse(readFileSync(path.join(sae, 'labels.json'), 'utf8')) as typeof labels;
  const rows = labels.map((l) => ({ id: `c${l.index}`, modelId: 'confab-reference', layer: '2-ref-res-1k', index: String(l.index), authorId: 'x', description: l.description, typeName: 'top-contexts' }));
  rows.push({ ...rows[5], id: 'c-second', description: 'a second explanation' });
  rows.sort((a, b) => (a.index < b.index ? -1 : a.index > b.index ? 1 : 0));
  const out = path.join(converted, 'np-export/explanations');
  mkdirSync(out, { recursive: true });
  for (let b = 0; b * 1024 < rows.length; b++) {
    writeFileSync(path.join(out, `batch-${b}.jsonl.gz`), gzipSync(`${rows.slice(b * 1024, (b + 1) * 1024).map((r) => JSON.stringify(r)).join('\n')}\n`));
  }
  rmSync(path.join(sae, 'labels.json'));
  const manifest = path.join(converted, 'manifest.yaml');
  writeFileSync(manifest, readFileSync(manifest, 'utf8').replace('labels: sae/labels.json', 'labels: np-export'));

  [shipped, owners] = await Promise.all([createEngine(plain), createEngine(converted)]);
  engines.push(shipped, owners);
}, 120_000);

async function analyze(engine: RuntimeEngine, prompt: string): Promise<AnalyzeResponse> {
  const [r] = await engine.analyzeBatch([AnalyzeRequestSchema.parse({ prompt, positions: [0, 3, -1], top_k: 12, nla_samples: 0 })]);
  if (r instanceof Error) throw r;
  return r;
}

describe('an SAE in float64 with Neuronpedia labels, through the engine', () => {
  it('gives the features, activations and labels of the shipped float32 SAE and JSON labels', async () => {
    for (const prompt of ['The compiler emits a warning', 'Chi va piano va sano']) {
      const [a, b] = await Promise.all([analyze(shipped, prompt), analyze(owners, prompt)]);
      expect(b.positions.length).toBe(3);
      b.positions.forEach((pb, i) => {
        const pa = a.positions[i];
        expect(pb.sae.features.map((f) => f.index)).toEqual(pa.sae.features.map((f) => f.index));
        expect(pb.sae.features.map((f) => f.label)).toEqual(pa.sae.features.map((f) => f.label));
        pb.sae.features.forEach((f, k) => expect(f.activation).toBeCloseTo(pa.sae.features[k].activation, 5));
        expect(pb.sae.l0).toBe(pa.sae.l0);
        expect(pb.sae.features.length).toBeGreaterThan(0);
      });
    }
    expect(owners.capabilities().sae).toMatchObject({ width: 1024, architecture: 'topk' });
  });
});
