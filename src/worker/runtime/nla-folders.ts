/**
 * NLA checkpoint folders as the release publishes them: a Hugging Face directory plus the sidecar.
 *
 * - A released AV is sharded (`model-*.safetensors` with `model.safetensors.index.json`); its
 *   embedding table is found through the index, under whatever prefix the architecture gives it
 *   (Gemma 3's multimodal wrapper nests it under `language_model.`).
 * - A released AR is a truncated Hugging Face checkpoint plus `value_head.safetensors`. This
 *   worker has no PyTorch to run one, so it is recognised and sent to a `/score` server.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ManifestError, parseJsonFile, readText, requireFile, zodFail } from './manifest-files';
import { readSafetensorsHeader, type SafetensorsHeader } from './safetensors';

export const SHARD_INDEX = 'model.safetensors.index.json';
const SINGLE_FILE = 'model.safetensors';
/** Input-embedding names across Hugging Face architectures (Llama/Qwen/Gemma; GPT-2; Falcon). */
const EMBEDDING_SUFFIXES = ['embed_tokens.weight', 'wte.weight', 'word_embeddings.weight'];

const ShardIndexSchema = z.object({ weight_map: z.record(z.string(), z.string().min(1)) });

export interface EmbeddingTable {
  /** The safetensors file that holds the table (a shard, for a sharded checkpoint). */
  file: string;
  key: string;
  rows: number;
}

/**
 * Where the AV's embedding rows are. `embeddings` (relative to the AV folder) names a
 * safetensors file or a shard index; left out, the folder's index or `model.safetensors` is used.
 * `key` left out means the one tensor whose name ends like an input embedding.
 */
export function resolveEmbeddingTable(manifestFile: string, avDir: string, embeddings: string | undefined, key: string | undefined, d: number): EmbeddingTable {
  let file: string;
  if (embeddings !== undefined) {
    file = requireFile(manifestFile, 'nla.av.embeddings', path.resolve(avDir, embeddings));
  } else {
    const found = [SHARD_INDEX, SINGLE_FILE].map((f) => path.join(avDir, f)).find((f) => existsSync(f));
    if (!found) throw new ManifestError(manifestFile, 'nla.av.embeddings', `is not set, and ${avDir} has neither ${SHARD_INDEX} nor ${SINGLE_FILE}`);
    file = found;
  }

  let header: SafetensorsHeader;
  if (file.endsWith('.json')) {
    const parsed = ShardIndexSchema.safeParse(parseJsonFile(file, readText(file)));
    if (!parsed.success) zodFail(file, parsed.error);
    const weightMap = parsed.data.weight_map;
    key = pickKey(file, 'weight_map', Object.keys(weightMap), key);
    const shard = path.resolve(path.dirname(file), weightMap[key]);
    if (path.dirname(shard) !== path.dirname(file)) {
      throw new ManifestError(file, `weight_map.${key}`, `is "${weightMap[key]}"; a shard must be a file in the index's own folder`);
    }
    requireFile(file, `weight_map.${key}`, shard);
    header = readHeader(shard);
    if (!header.tensors.has(key)) throw new ManifestError(shard, key, `tensor is missing, though ${path.basename(file)} places it in this shard`);
  } else {
    header = readHeader(file);
    key = pickKey(file, '', [...header.tensors.keys()], key);
  }

  const info = header.tensors.get(key)!;
  if (info.shape.length !== 2 || info.shape[1] !== d) {
    throw new ManifestError(header.file, key, `has shape [${info.shape}]; [vocab, ${d}] expected`);
  }
  if (!['F32', 'F16', 'BF16'].includes(info.dtype)) {
    throw new ManifestError(header.file, key, `is ${info.dtype}; an embedding table of F32, F16 or BF16 is expected`);
  }
  return { file: header.file, key, rows: info.shape[0] };
}

function pickKey(file: string, field: string, names: string[], key: string | undefined): string {
  if (key !== undefined) {
    if (names.includes(key)) return key;
    throw new ManifestError(file, field ? `${field}.${key}` : key, 'tensor is missing (set nla.av.embedding_key)');
  }
  const matches = names.filter((n) => EMBEDDING_SUFFIXES.some((s) => n === s || n.endsWith(`.${s}`)));
  if (matches.length === 1) return matches[0];
  const what = matches.length === 0 ? `no tensor named like an input embedding (…${EMBEDDING_SUFFIXES.join(', …')})` : `several embedding tensors (${matches.join(', ')})`;
  throw new ManifestError(file, field, `has ${what}; set nla.av.embedding_key`);
}

function readHeader(file: string): SafetensorsHeader {
  try {
    return readSafetensorsHeader(file);
  } catch (err) {
    throw new ManifestError(file, '', (err as Error).message.replace(`${file}: `, ''));
  }
}

/** A released AR: a Hugging Face checkpoint (config.json) beside its `value_head.safetensors`. */
export function isReleasedArFolder(dir: string): boolean {
  return existsSync(path.join(dir, 'value_head.safetensors')) && existsSync(path.join(dir, 'config.json'));
}

const HfConfigSchema = z.looseObject({
  num_hidden_layers: z.number().int().min(1).optional(),
  text_config: z.looseObject({ num_hidden_layers: z.number().int().min(1).optional() }).optional(),
});

/**
 * A released AR keeps the blocks up to and including the subject's layer, so its config.json
 * holds layer + 1 of them (the sidecar stores the layer itself).
 */
export function checkReleasedArDepth(dir: string, layer: number): void {
  const file = path.join(dir, 'config.json');
  const parsed = HfConfigSchema.safeParse(parseJsonFile(file, readText(file)));
  if (!parsed.success) zodFail(file, parsed.error);
  const c = parsed.data;
  const [field, blocks] = c.text_config?.num_hidden_layers !== undefined ? ['text_config.num_hidden_layers', c.text_config.num_hidden_layers] : ['num_hidden_layers', c.num_hidden_layers];
  if (blocks !== undefined && blocks !== layer + 1) {
    throw new ManifestError(file, field, `is ${blocks}; an AR for the manifest's subject.layer ${layer} keeps ${layer + 1} blocks`);
  }
}

/** What to do with a released AR folder named as an ONNX AR. */
export function releasedArAsOnnxMessage(dir: string): string {
  return (
    `${dir} is a released AR (a Hugging Face checkpoint plus value_head.safetensors), which this worker cannot run as ONNX. ` +
    `Serve it with Neuronpedia's NLA server (NLA_RECONSTRUCTOR_MODEL=${dir}) and set nla.ar.backend: neuronpedia with that server's url; ` +
    'see "A released NLA and SAE on a GPU host" in the README'
  );
}

/** Architectures whose embedding layer multiplies by sqrt(hidden_size) after the lookup. */
const SCALED_EMBEDDINGS = new Set(['gemma', 'gemma2', 'gemma3', 'gemma3_text', 't5']);

/**
 * The factor the AV's embedding rows are multiplied by. Read from the AV's config.json when it
 * has one, because a Gemma AV without it gets rows about 60 times too small and describes noise;
 * a manifest value that contradicts config.json is refused rather than trusted.
 */
export function resolveEmbedScale(manifestFile: string, avDir: string, given: number | 'sqrt_d' | undefined, d: number): number {
  const value = given === 'sqrt_d' ? Math.sqrt(d) : given;
  const file = path.join(avDir, 'config.json');
  if (!existsSync(file)) return value ?? 1;
  const parsed = z.looseObject({ model_type: z.string().optional(), text_config: z.looseObject({ model_type: z.string().optional() }).optional() }).safeParse(parseJsonFile(file, readText(file)));
  if (!parsed.success) zodFail(file, parsed.error);
  const modelType = parsed.data.text_config?.model_type ?? parsed.data.model_type;
  if (modelType === undefined) return value ?? 1;
  const expected = SCALED_EMBEDDINGS.has(modelType) ? Math.sqrt(d) : 1;
  if (value !== undefined && Math.abs(value - expected) > 1e-6 * expected) {
    const want = expected === 1 ? '1' : '"sqrt_d"';
    throw new ManifestError(manifestFile, 'nla.av.embed_scale', `is ${given}, but ${file} says model_type ${modelType}, whose embedding rows are used ${expected === 1 ? 'as they are' : 'times sqrt(hidden_size)'}; set ${want} or leave it out`);
  }
  return expected;
}
