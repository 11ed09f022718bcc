/**
 * What an AV server must receive for the reference stack, computed independently of the
 * runtime's embedding builder: the template tokenized by hand (the reference tokenizer is
 * byte-level with four specials), and embedding rows read from model.safetensors with a
 * ten-line parser.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { REFERENCE_MODELS } from '../../../src/config';
import type { AvWireExpectation } from '../../fakes/sglang/wire-check';

export const REFERENCE_DIR = path.dirname(REFERENCE_MODELS);

const SPECIALS: Record<string, number> = { '<|bos|>': 256, '<|eos|>': 257, '<|pad|>': 258, '\u320e': 259 };

export function referenceTemplateIds(): { ids: number[]; injectionScale: number; left: number; right: number; injectionId: number } {
  const meta = parseYaml(readFileSync(path.join(REFERENCE_DIR, 'nla/av/nla_meta.yaml'), 'utf8'));
  const filled: string = meta.prompt_templates.av.split('{injection_char}').join(meta.tokens.injection_char);
  const ids: number[] = [];
  const pattern = new RegExp(`(${Object.keys(SPECIALS).map((s) => s.replace(/[|]/g, '\\|')).join('|')})`);
  for (const piece of filled.split(pattern)) {
    if (piece in SPECIALS) ids.push(SPECIALS[piece]);
    else ids.push(...Buffer.from(piece, 'utf8'));
  }
  return {
    ids,
    injectionScale: meta.extraction.injection_scale,
    left: meta.tokens.injection_left_neighbor_id,
    right: meta.tokens.injection_right_neighbor_id,
    injectionId: meta.tokens.injection_token_id,
  };
}

export function referenceEmbeddingRow(id: number): Float32Array {
  const file = readFileSync(path.join(REFERENCE_DIR, 'nla/av/model.safetensors'));
  const headerLength = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + headerLength).toString('utf8'));
  const tensor = header['embed_tokens.weight'] as { dtype: string; shape: [number, number]; data_offsets: [number, number] };
  if (tensor.dtype !== 'F32') throw new Error(`expected F32 embeddings, got ${tensor.dtype}`);
  const d = tensor.shape[1];
  const start = 8 + headerLength + tensor.data_offsets[0] + id * d * 4;
  const row = new Float32Array(d);
  for (let j = 0; j < d; j++) row[j] = file.readFloatLE(start + j * 4);
  return row; // embed_scale is 1.0 in the reference manifest
}

export function referenceExpectation(activation?: Float32Array): AvWireExpectation {
  const t = referenceTemplateIds();
  const sites = t.ids.flatMap((id, i) => (id === t.injectionId && t.ids[i - 1] === t.left && t.ids[i + 1] === t.right ? [i] : []));
  if (sites.length !== 1) throw new Error(`reference template has ${sites.length} injection sites`);
  const rows = t.ids.map(referenceEmbeddingRow);
  const d = rows[0].length;
  const templateRows = new Float32Array(t.ids.length * d);
  rows.forEach((r, i) => templateRows.set(r, i * d));
  return {
    T: t.ids.length,
    d,
    site: sites[0],
    injectionScale: t.injectionScale,
    templateRows,
    leftNeighbourRow: referenceEmbeddingRow(t.left),
    rightNeighbourRow: referenceEmbeddingRow(t.right),
    activation,
  };
}
