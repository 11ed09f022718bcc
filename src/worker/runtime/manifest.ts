/**
 * The model manifest: one YAML file naming every piece the worker runs (subject ONNX, tokenizer,
 * SAE, NLA sidecars, stats). Paths are relative to the manifest's folder. The reference stack and
 * a released Qwen/Gemma NLA go through this same loader.
 *
 * Every error names the file and the field, because the person reading it is setting up a GPU
 * host from a README and needs to know which line to fix.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { readSafetensorsHeader } from './safetensors';

export class ManifestError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    message: string,
  ) {
    super(`${file}: ${field ? `${field}: ` : ''}${message}`);
    this.name = 'ManifestError';
  }
}

// ---------------------------------------------------------------------------------------------
// Schemas (snake_case: these are files people write by hand and Python tools produce)

const ManifestSchema = z.object({
  name: z.string().min(1),
  subject: z.object({
    onnx: z.string().min(1),
    tokenizer: z.string().min(1),
    layer: z.number().int().min(0),
    d_model: z.number().int().min(1),
    max_tokens: z.number().int().min(1),
    /** Prepended to every prompt when set (the reference tokenizer has no post_processor). */
    bos_token_id: z.number().int().min(0).nullable().default(null),
    hidden_output: z.string().default('hidden'),
    input_name: z.string().default('input_ids'),
  }),
  sae: z.object({
    path: z.string().min(1),
    labels: z.string().optional(),
    /** Defaults to sae_weights.safetensors, else Gemma Scope's params.safetensors. */
    weights: z.string().optional(),
  }),
  nla: z
    .object({
      av: z.looseObject({
        path: z.string().min(1),
        backend: z.string().min(1).default('onnx'),
        onnx: z.string().optional(),
        embeddings: z.string().min(1),
        embedding_key: z.string().default('model.embed_tokens.weight'),
        /** A number, or "sqrt_d" (Gemma multiplies embeddings by sqrt(d) after lookup). */
        embed_scale: z.union([z.number().positive(), z.literal('sqrt_d')]).default(1),
        eos_token_id: z.union([z.number().int(), z.array(z.number().int()).min(1)]),
        max_new_tokens: z.number().int().min(1).default(200),
        /** The AV's tokenizer when it differs from the subject's. */
        tokenizer: z.string().optional(),
        /**
         * A plain wrapper for the filled AV template, with `{prompt}` where it goes, e.g.
         * "<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n" for Qwen. Tokenized in
         * one step with the template (two steps double BOS on Gemma). Not Jinja.
         */
        chat_template: z.string().optional(),
      }),
      ar: z.looseObject({
        /** The AR's folder with its nla_meta.yaml; a remote AR (`/score`) may go without. */
        path: z.string().min(1).optional(),
        backend: z.string().min(1).default('onnx'),
        onnx: z.string().optional(),
        tokenizer: z.string().optional(),
      }),
    })
    .optional(),
  stats: z.string().min(1),
  execution_provider: z.enum(['cpu', 'cuda']).default('cpu'),
});

const NlaMetaSchema = z.object({
  schema_version: z.number().int().optional(),
  kind: z.literal('nla_model').optional(),
  role: z.enum(['av', 'ar']),
  d_model: z.number().int().min(1),
  layer_index: z.number().int().optional(),
  extraction: z
    .object({
      layer_index: z.number().int().optional(),
      injection_scale: z.number().positive().nullable().optional(),
      mse_scale: z.number().nullable().optional(),
    })
    .default({}),
  tokens: z
    .object({
      injection_char: z.string().min(1),
      injection_token_id: z.number().int().min(0),
      injection_left_neighbor_id: z.number().int().nullable().optional(),
      injection_right_neighbor_id: z.number().int().nullable().optional(),
    })
    .optional(),
  prompt_templates: z.object({
    av: z.string().optional(),
    ar: z.string().optional(),
    /** schema_version 1 names */
    actor: z.string().optional(),
    critic: z.string().optional(),
  }),
});

const StatsSchema = z.object({
  d_model: z.number().int().min(1),
  layer: z.number().int().optional(),
  n_reference: z.number().int().optional(),
  mu: z.array(z.number()),
  B: z.number().positive(),
  raw_mean: z.array(z.number()).optional(),
  raw_total_variance: z.number().positive(),
  norm_mean: z.number().positive().optional(),
  norm_std: z.number().optional(),
});

const SaeCfgSchema = z.looseObject({
  architecture: z.string().optional(),
  d_in: z.number().int().min(1),
  d_sae: z.number().int().min(1),
  dtype: z.string().optional(),
  k: z.number().int().min(1).optional(),
  activation_fn_str: z.string().optional(),
  activation_fn_kwargs: z.looseObject({ k: z.number().int().optional() }).optional(),
  apply_b_dec_to_input: z.boolean().default(true),
  normalize_activations: z.string().nullable().default('none'),
  rescale_acts_by_decoder_norm: z.boolean().default(false),
  scaling_factor: z.number().nullable().optional(),
  hook_name: z.string().optional(),
  metadata: z.looseObject({ hook_name: z.string().optional(), model_name: z.string().optional() }).optional(),
});

// ---------------------------------------------------------------------------------------------
// Resolved, typed manifest (camelCase, absolute paths)

export type SaeArchitecture = 'standard' | 'jumprelu' | 'topk';
export type NormalizeActivations = 'none' | 'expected_average_only_in' | 'constant_norm_rescale' | 'layer_norm';

export interface SaeConfig {
  architecture: SaeArchitecture;
  dIn: number;
  dSae: number;
  k: number | null;
  applyBDecToInput: boolean;
  normalizeActivations: NormalizeActivations;
  rescaleActsByDecoderNorm: boolean;
  /**
   * For expected_average_only_in: the cfg's scaling_factor. Absent means SAELens already folded
   * it into the weights at save time, so inputs go in raw.
   */
  scalingFactor: number | null;
  hookName?: string;
  /** Tensor names in the weights file: SAELens or Gemma Scope. */
  tensorNames: { wEnc: string; bEnc: string; wDec: string; bDec: string; threshold: string | null };
}

export interface NlaTokens {
  injectionChar: string;
  injectionTokenId: number;
  leftNeighborId: number | null;
  rightNeighborId: number | null;
}

export interface NlaMeta {
  file: string;
  role: 'av' | 'ar';
  dModel: number;
  layerIndex: number | null;
  injectionScale: number | null;
  mseScale: number | null;
  tokens: NlaTokens | null;
  avTemplate: string | null;
  arTemplate: string | null;
}

export interface ModelStats {
  file: string;
  dModel: number;
  mu: Float32Array;
  B: number;
  rawTotalVariance: number;
  normMean: number | null;
}

export interface AvSpec {
  backend: string;
  dir: string;
  meta: NlaMeta & { tokens: NlaTokens; injectionScale: number; avTemplate: string };
  onnx: string | null;
  embeddings: string;
  embeddingKey: string;
  embedScale: number;
  eosTokenIds: number[];
  maxNewTokens: number;
  tokenizer: string;
  chatTemplate: string | null;
  /** The whole manifest section, for backend-specific keys (url, model, api key variable...). */
  options: Record<string, unknown>;
}

export interface ArSpec {
  backend: string;
  dir: string;
  meta: NlaMeta & { arTemplate: string };
  onnx: string | null;
  tokenizer: string;
  options: Record<string, unknown>;
}

export interface ModelManifest {
  file: string;
  dir: string;
  name: string;
  subject: {
    onnx: string;
    tokenizer: string;
    layer: number;
    dModel: number;
    maxTokens: number;
    bosTokenId: number | null;
    hiddenOutput: string;
    inputName: string;
  };
  sae: { dir: string; weights: string; cfg: SaeConfig; labels: string | null };
  nla: { av: AvSpec; ar: ArSpec } | null;
  stats: ModelStats;
  executionProvider: 'cpu' | 'cuda';
}

// ---------------------------------------------------------------------------------------------

function zodFail(file: string, err: z.ZodError): never {
  const issue = err.issues[0];
  const field = issue.path.join('.');
  throw new ManifestError(file, field, issue.message);
}

function readText(file: string, referencedBy?: { file: string; field: string }): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (referencedBy) throw new ManifestError(referencedBy.file, referencedBy.field, `file ${file} cannot be read (${code})`);
    throw new ManifestError(file, '', `cannot be read (${code})`);
  }
}

function requireFile(manifestFile: string, field: string, file: string, kind: 'file' | 'dir' = 'file'): string {
  if (!existsSync(file)) throw new ManifestError(manifestFile, field, `${kind === 'dir' ? 'folder' : 'file'} ${file} does not exist`);
  const isDir = statSync(file).isDirectory();
  if (kind === 'dir' && !isDir) throw new ManifestError(manifestFile, field, `${file} is not a folder`);
  if (kind === 'file' && isDir) throw new ManifestError(manifestFile, field, `${file} is a folder; a file is expected`);
  return file;
}

function parseYamlFile(file: string, text: string): unknown {
  try {
    return parseYaml(text);
  } catch (err) {
    throw new ManifestError(file, '', `is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
}

function parseJsonFile(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ManifestError(file, '', `is not valid JSON: ${(err as Error).message}`);
  }
}

/** Read an `nla_meta.yaml` sidecar (schema_version 2; version-1 `actor`/`critic` template keys accepted). */
export function loadNlaMeta(file: string): NlaMeta {
  const raw = parseYamlFile(file, readText(file));
  const parsed = NlaMetaSchema.safeParse(raw);
  if (!parsed.success) zodFail(file, parsed.error);
  const m = parsed.data;
  if (m.schema_version !== undefined && m.schema_version > 2) {
    throw new ManifestError(file, 'schema_version', `is ${m.schema_version}; this worker reads versions 1 and 2`);
  }
  return {
    file,
    role: m.role,
    dModel: m.d_model,
    layerIndex: m.extraction.layer_index ?? m.layer_index ?? null,
    injectionScale: m.extraction.injection_scale ?? null,
    mseScale: m.extraction.mse_scale ?? null,
    tokens: m.tokens
      ? {
          injectionChar: m.tokens.injection_char,
          injectionTokenId: m.tokens.injection_token_id,
          leftNeighborId: m.tokens.injection_left_neighbor_id ?? null,
          rightNeighborId: m.tokens.injection_right_neighbor_id ?? null,
        }
      : null,
    avTemplate: m.prompt_templates.av ?? m.prompt_templates.actor ?? null,
    arTemplate: m.prompt_templates.ar ?? m.prompt_templates.critic ?? null,
  };
}

export function loadStats(file: string, expectedDModel?: number): ModelStats {
  const parsed = StatsSchema.safeParse(parseJsonFile(file, readText(file)));
  if (!parsed.success) zodFail(file, parsed.error);
  const s = parsed.data;
  if (expectedDModel !== undefined && s.d_model !== expectedDModel) {
    throw new ManifestError(file, 'd_model', `is ${s.d_model}; the manifest's subject.d_model is ${expectedDModel}`);
  }
  if (s.mu.length !== s.d_model) throw new ManifestError(file, 'mu', `has ${s.mu.length} values; d_model is ${s.d_model}`);
  return { file, dModel: s.d_model, mu: Float32Array.from(s.mu), B: s.B, rawTotalVariance: s.raw_total_variance, normMean: s.norm_mean ?? null };
}

const NORMALIZE_MODES: NormalizeActivations[] = ['none', 'expected_average_only_in', 'constant_norm_rescale', 'layer_norm'];

/**
 * Read an SAE folder: SAELens `cfg.json` + `sae_weights.safetensors`, or Gemma Scope
 * `params.safetensors` (jumprelu, no b_dec subtraction; sizes from the tensor shapes).
 */
export function loadSaeConfig(dir: string, weightsName?: string): { cfg: SaeConfig; weights: string } {
  const weights = weightsName
    ? path.resolve(dir, weightsName)
    : [path.join(dir, 'sae_weights.safetensors'), path.join(dir, 'params.safetensors')].find((f) => existsSync(f));
  if (!weights || !existsSync(weights)) {
    throw new ManifestError(path.join(dir, weightsName ?? 'sae_weights.safetensors'), '', 'does not exist (an SAE folder holds sae_weights.safetensors or params.safetensors)');
  }
  let header;
  try {
    header = readSafetensorsHeader(weights);
  } catch (err) {
    throw new ManifestError(weights, '', (err as Error).message.replace(`${weights}: `, ''));
  }
  const has = (n: string) => header.tensors.has(n);
  const gemmaScope = has('w_enc') && !has('W_enc');
  const tensorNames = gemmaScope
    ? { wEnc: 'w_enc', bEnc: 'b_enc', wDec: 'w_dec', bDec: 'b_dec', threshold: has('threshold') ? 'threshold' : null }
    : { wEnc: 'W_enc', bEnc: 'b_enc', wDec: 'W_dec', bDec: 'b_dec', threshold: has('threshold') ? 'threshold' : null };
  for (const key of ['wEnc', 'bEnc', 'wDec', 'bDec'] as const) {
    if (!has(tensorNames[key])) throw new ManifestError(weights, tensorNames[key], 'tensor is missing');
  }
  const wEncShape = header.tensors.get(tensorNames.wEnc)!.shape;

  const cfgFile = path.join(dir, 'cfg.json');
  let cfg: SaeConfig;
  if (existsSync(cfgFile)) {
    const parsed = SaeCfgSchema.safeParse(parseJsonFile(cfgFile, readText(cfgFile)));
    if (!parsed.success) zodFail(cfgFile, parsed.error);
    const c = parsed.data;
    let arch = c.architecture ?? (gemmaScope ? 'jumprelu' : 'standard');
    if (arch === 'relu') arch = 'standard';
    // Older SAELens wrote TopK SAEs as architecture "standard" with activation_fn_str "topk".
    if (arch === 'standard' && c.activation_fn_str === 'topk') arch = 'topk';
    if (arch !== 'standard' && arch !== 'jumprelu' && arch !== 'topk') {
      throw new ManifestError(cfgFile, 'architecture', `"${arch}" is not supported; use standard, jumprelu or topk`);
    }
    const k = c.k ?? c.activation_fn_kwargs?.k ?? null;
    if (arch === 'topk' && (k === null || k > c.d_sae)) throw new ManifestError(cfgFile, 'k', `a topk SAE needs k between 1 and d_sae (${c.d_sae})`);
    const norm = (c.normalize_activations ?? 'none') as NormalizeActivations;
    if (!NORMALIZE_MODES.includes(norm)) {
      throw new ManifestError(cfgFile, 'normalize_activations', `"${norm}" is not supported; use ${NORMALIZE_MODES.join(', ')}`);
    }
    if (arch === 'jumprelu' && !tensorNames.threshold) throw new ManifestError(weights, 'threshold', 'a jumprelu SAE needs a threshold tensor');
    cfg = {
      architecture: arch,
      dIn: c.d_in,
      dSae: c.d_sae,
      k: arch === 'topk' ? k : null,
      applyBDecToInput: c.apply_b_dec_to_input,
      normalizeActivations: norm,
      rescaleActsByDecoderNorm: c.rescale_acts_by_decoder_norm,
      scalingFactor: c.scaling_factor ?? null,
      hookName: c.metadata?.hook_name ?? c.hook_name,
      tensorNames,
    };
  } else if (gemmaScope) {
    cfg = {
      architecture: 'jumprelu',
      dIn: wEncShape[0],
      dSae: wEncShape[1],
      k: null,
      applyBDecToInput: false,
      normalizeActivations: 'none',
      rescaleActsByDecoderNorm: false,
      scalingFactor: null,
      tensorNames,
    };
    if (!tensorNames.threshold) throw new ManifestError(weights, 'threshold', 'a Gemma Scope SAE needs a threshold tensor');
  } else {
    throw new ManifestError(cfgFile, '', 'does not exist (SAELens folders hold cfg.json beside sae_weights.safetensors)');
  }
  if (wEncShape[0] !== cfg.dIn || wEncShape[1] !== cfg.dSae) {
    throw new ManifestError(weights, tensorNames.wEnc, `has shape [${wEncShape}]; cfg says d_in ${cfg.dIn}, d_sae ${cfg.dSae}`);
  }
  const wDecShape = header.tensors.get(tensorNames.wDec)!.shape;
  if (wDecShape[0] !== cfg.dSae || wDecShape[1] !== cfg.dIn) {
    throw new ManifestError(weights, tensorNames.wDec, `has shape [${wDecShape}]; [d_sae ${cfg.dSae}, d_in ${cfg.dIn}] expected`);
  }
  return { cfg, weights };
}

export interface LoadManifestOptions {
  /** Overrides the manifest's execution_provider (CLI flag / CONFAB_EXECUTION_PROVIDER). */
  executionProvider?: 'cpu' | 'cuda';
}

export function loadManifest(manifestPath: string, opts: LoadManifestOptions = {}): ModelManifest {
  let file = path.resolve(manifestPath);
  if (existsSync(file) && statSync(file).isDirectory()) file = path.join(file, 'manifest.yaml');
  const dir = path.dirname(file);
  const parsed = ManifestSchema.safeParse(parseYamlFile(file, readText(file)));
  if (!parsed.success) zodFail(file, parsed.error);
  const m = parsed.data;
  const at = (rel: string) => path.resolve(dir, rel);
  const d = m.subject.d_model;

  const subject = {
    onnx: requireFile(file, 'subject.onnx', at(m.subject.onnx)),
    tokenizer: requireFile(file, 'subject.tokenizer', at(m.subject.tokenizer)),
    layer: m.subject.layer,
    dModel: d,
    maxTokens: m.subject.max_tokens,
    bosTokenId: m.subject.bos_token_id,
    hiddenOutput: m.subject.hidden_output,
    inputName: m.subject.input_name,
  };

  const stats = loadStats(requireFile(file, 'stats', at(m.stats)), d);

  const saeDir = requireFile(file, 'sae.path', at(m.sae.path), 'dir');
  const { cfg, weights } = loadSaeConfig(saeDir, m.sae.weights);
  if (cfg.dIn !== d) throw new ManifestError(path.join(saeDir, 'cfg.json'), 'd_in', `is ${cfg.dIn}; the manifest's subject.d_model is ${d}`);
  const labels = m.sae.labels ? requireFile(file, 'sae.labels', at(m.sae.labels)) : null;

  let nla: ModelManifest['nla'] = null;
  if (m.nla) {
    const avDir = requireFile(file, 'nla.av.path', at(m.nla.av.path), 'dir');
    const avMetaFile = requireFile(file, 'nla.av.path', path.join(avDir, 'nla_meta.yaml'));
    const avMeta = loadNlaMeta(avMetaFile);
    checkMeta(avMeta, 'av', d, m.subject.layer);
    if (!avMeta.tokens) throw new ManifestError(avMetaFile, 'tokens', 'an AV sidecar needs tokens.injection_char and tokens.injection_token_id');
    if (avMeta.injectionScale === null) throw new ManifestError(avMetaFile, 'extraction.injection_scale', 'an AV sidecar needs a positive injection_scale');
    if (!avMeta.avTemplate) throw new ManifestError(avMetaFile, 'prompt_templates.av', 'is missing');
    if (!avMeta.avTemplate.includes('{injection_char}')) {
      throw new ManifestError(avMetaFile, 'prompt_templates.av', 'has no {injection_char} placeholder');
    }
    const av = m.nla.av;
    const avDirAt = (rel: string) => path.resolve(avDir, rel);
    nla = {
      av: {
        backend: av.backend,
        dir: avDir,
        meta: avMeta as AvSpec['meta'],
        onnx: av.onnx ? requireFile(file, 'nla.av.onnx', avDirAt(av.onnx)) : null,
        embeddings: requireFile(file, 'nla.av.embeddings', avDirAt(av.embeddings)),
        embeddingKey: av.embedding_key,
        embedScale: av.embed_scale === 'sqrt_d' ? Math.sqrt(d) : av.embed_scale,
        eosTokenIds: Array.isArray(av.eos_token_id) ? av.eos_token_id : [av.eos_token_id],
        maxNewTokens: av.max_new_tokens,
        tokenizer: av.tokenizer ? requireFile(file, 'nla.av.tokenizer', avDirAt(av.tokenizer)) : subject.tokenizer,
        chatTemplate: av.chat_template ?? null,
        options: av,
      },
      ar: undefined as unknown as ArSpec,
    };
    if (av.backend === 'onnx' && !nla.av.onnx) throw new ManifestError(file, 'nla.av.onnx', 'the onnx backend needs the decoder graph file');
    const emb = readSafetensorsHeader(nla.av.embeddings).tensors.get(nla.av.embeddingKey);
    if (!emb) throw new ManifestError(nla.av.embeddings, nla.av.embeddingKey, 'tensor is missing (set nla.av.embedding_key)');
    if (emb.shape.length !== 2 || emb.shape[1] !== d) {
      throw new ManifestError(nla.av.embeddings, nla.av.embeddingKey, `has shape [${emb.shape}]; [vocab, ${d}] expected`);
    }
    if (avMeta.tokens.injectionTokenId >= emb.shape[0]) {
      throw new ManifestError(avMetaFile, 'tokens.injection_token_id', `${avMeta.tokens.injectionTokenId} is outside the embedding table (${emb.shape[0]} rows)`);
    }

    const ar = m.nla.ar;
    if (!ar.path && ar.backend === 'onnx') throw new ManifestError(file, 'nla.ar.path', 'the onnx AR needs its folder (with nla_meta.yaml)');
    const arDir = ar.path ? requireFile(file, 'nla.ar.path', at(ar.path), 'dir') : dir;
    // A remote /score AR fills its own template server-side; its sidecar is optional.
    const arMeta: NlaMeta = ar.path
      ? loadNlaMeta(requireFile(file, 'nla.ar.path', path.join(arDir, 'nla_meta.yaml')))
      : { ...avMeta, file, role: 'ar', injectionScale: null, arTemplate: avMeta.arTemplate ?? '{explanation}' };
    checkMeta(arMeta, 'ar', d, m.subject.layer);
    if (!arMeta.arTemplate) throw new ManifestError(arMeta.file, 'prompt_templates.ar', 'is missing');
    if (!arMeta.arTemplate.includes('{explanation}')) throw new ManifestError(arMeta.file, 'prompt_templates.ar', 'has no {explanation} placeholder');
    nla.ar = {
      backend: ar.backend,
      dir: arDir,
      meta: arMeta as ArSpec['meta'],
      onnx: ar.onnx ? requireFile(file, 'nla.ar.onnx', path.resolve(arDir, ar.onnx)) : null,
      tokenizer: ar.tokenizer ? requireFile(file, 'nla.ar.tokenizer', path.resolve(arDir, ar.tokenizer)) : subject.tokenizer,
      options: ar,
    };
    if (ar.backend === 'onnx' && !nla.ar.onnx) throw new ManifestError(file, 'nla.ar.onnx', 'the onnx backend needs the AR graph file');
  }

  return {
    file,
    dir,
    name: m.name,
    subject,
    sae: { dir: saeDir, weights, cfg, labels },
    nla,
    stats,
    executionProvider: opts.executionProvider ?? m.execution_provider,
  };
}

function checkMeta(meta: NlaMeta, role: 'av' | 'ar', d: number, layer: number): void {
  if (meta.role !== role) throw new ManifestError(meta.file, 'role', `is ${meta.role}; this folder is the ${role.toUpperCase()}`);
  if (meta.dModel !== d) throw new ManifestError(meta.file, 'd_model', `is ${meta.dModel}; the manifest's subject.d_model is ${d}`);
  if (meta.layerIndex !== null && meta.layerIndex !== layer) {
    throw new ManifestError(meta.file, 'extraction.layer_index', `is ${meta.layerIndex}; the manifest's subject.layer is ${layer}`);
  }
}
