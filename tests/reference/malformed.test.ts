/**
 * Copies of the shipped stack, each broken in one way: the error must name the file and the
 * field, so whoever wires a real checkpoint knows what to fix.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/worker/runtime/engine';
import { providerInstalled } from '../../src/worker/runtime/execution';
import { loadManifest } from '../../src/worker/runtime/manifest';

const REFERENCE = path.resolve(import.meta.dirname, '../../models/reference');
const copies: string[] = [];
afterAll(() => copies.forEach((d) => rmSync(d, { recursive: true, force: true })));

function brokenCopy(file: string, change: (text: string) => string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'confab-ref-'));
  copies.push(dir);
  // The graphs are not needed to check the manifest; copying them would only cost time.
  cpSync(REFERENCE, dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}golden`) && !src.includes(`${path.sep}gold${path.sep}`) });
  const target = path.join(dir, file);
  writeFileSync(target, change(readFileSync(target, 'utf8')));
  return dir;
}

describe('malformed reference artifacts', () => {
  it('a missing file names the manifest field', () => {
    const dir = brokenCopy('manifest.yaml', (t) => t);
    rmSync(path.join(dir, 'nla/av/decoder.onnx'));
    expect(() => loadManifest(dir)).toThrow(`${path.join(dir, 'manifest.yaml')}: nla.av.onnx: file ${path.join(dir, 'nla/av/decoder.onnx')} does not exist`);
  });

  it('a wrong d_model in stats.json', () => {
    const dir = brokenCopy('stats.json', (t) => t.replace(/"d_model":\s*128/, '"d_model": 64'));
    expect(() => loadManifest(dir)).toThrow(/stats\.json: d_model: is 64; the manifest's subject\.d_model is 128/);
  });

  it('a wrong d_model in the AV sidecar', () => {
    const dir = brokenCopy('nla/av/nla_meta.yaml', (t) => t.replace('d_model: 128', 'd_model: 3584'));
    expect(() => loadManifest(dir)).toThrow(/nla\/av\/nla_meta\.yaml: d_model: is 3584; the manifest's subject\.d_model is 128/);
  });

  it('a sidecar without an injection token', () => {
    const dir = brokenCopy('nla/av/nla_meta.yaml', (t) => t.replace(/^tokens:.*$/m, ''));
    expect(() => loadManifest(dir)).toThrow(/nla\/av\/nla_meta\.yaml: tokens: an AV sidecar needs tokens\.injection_char and tokens\.injection_token_id/);
  });

  it('an SAE cfg.json with an unknown architecture', () => {
    const dir = brokenCopy('sae/cfg.json', (t) => t.replace('"topk"', '"skip_transcoder"'));
    expect(() => loadManifest(dir)).toThrow(`${path.join(dir, 'sae/cfg.json')}: architecture: "skip_transcoder" is not an SAE architecture this worker runs; it runs standard, jumprelu, topk, gated`);
  });

  it('an embedding key the safetensors file lacks', () => {
    const dir = brokenCopy('manifest.yaml', (t) => t.replace('embedding_key: embed_tokens.weight', 'embedding_key: model.embed_tokens.weight'));
    expect(() => loadManifest(dir)).toThrow(/nla\/av\/model\.safetensors: model\.embed_tokens\.weight: tensor is missing \(set nla\.av\.embedding_key\)/);
  });

  it('sidecar neighbour ids that do not match the template: the engine refuses to start', async () => {
    const dir = brokenCopy('nla/av/nla_meta.yaml', (t) => t.replace(/injection_left_neighbor_id: \d+/, 'injection_left_neighbor_id: 40'));
    await expect(createEngine(dir)).rejects.toThrow(/The AV prompt has 0 injection sites \(token 259 with neighbours 40\/\d+; 1 bare occurrences\); exactly 1 is required/);
  });

  it.skipIf(providerInstalled('cuda'))('cuda without the CUDA provider says how to install it', async () => {
    await expect(createEngine(REFERENCE, { executionProvider: 'cuda' })).rejects.toThrow(/CUDA provider is not installed\. Install it with `ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci`/);
  });
});
