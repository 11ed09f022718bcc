/**
 * The model manifest: one YAML file naming every piece the worker runs (subject ONNX, tokenizer,
 * SAE, NLA sidecars, stats). Paths are relative to the manifest's folder. The reference stack and
 * a released Qwen/Gemma NLA go through this same loader.
 *
 * Every error names the file and the field, because the person reading it is setting up a GPU
 * host from a README and needs to know which line to fix.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ManifestError, parseJsonFile, parseYamlFile, readText, requireFile, zodFail } from './manifest-files';
import { loadLabels } from './labels';
import { checkReleasedArDepth, isReleasedArFolder, releasedArAsOnnxMessage, resolveEmbeddingTable, resolveEmbedScale } from './nla-folders';
import { checkNlaMeta, loadNlaMeta, type NlaMeta, type NlaTokens } from './nla-meta';
import { loadSaeFolder, type SaeConfig } from './sae-formats';

// Schemas are snake_case: these are files people write by hand and Python tools produce.

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
    /** Defaults to sae_weights.safetensors, else Gemma Scope's params.safetensors or params.npz. */
    weights: z.string().optional(),
    /** expected_average_only_in SAEs: the norm_scaling_factor SAELens keeps in its registry. */
    norm_scaling_factor: z.number().positive().optional(),
  }),
  nla: z
    .object({
      av: z.looseObject({
        path: z.string().min(1),
        backend: z.string().min(1).default('onnx'),
        onnx: z.string().optional(),
        /** A safetensors file or shard index; by default the AV folder's index or model.safetensors. */
        embeddings: z.string().min(1).optional(),
        /** By default the one tensor named like an input embedding (`...embed_tokens.weight`). */
        embedding_key: z.string().min(1).optional(),
        /** A number, or "sqrt_d" (Gemma multiplies embeddings by sqrt(d) after lookup); by default from the AV's config.json, else 1. */
        embed_scale: z.union([z.number().positive(), z.literal('sqrt_d')]).optional(),
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

// Resolved, typed manifest (camelCase, absolute paths)

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
  const { cfg, weights } = loadSaeFolder(saeDir, { weights: m.sae.weights, normScalingFactor: m.sae.norm_scaling_factor, manifestFile: file, subjectLayer: m.subject.layer });
  if (cfg.dIn !== d) {
    const saeCfg = path.join(saeDir, 'cfg.json');
    const why = `the manifest's subject.d_model is ${d}`;
    if (existsSync(saeCfg)) throw new ManifestError(saeCfg, 'd_in', `is ${cfg.dIn}; ${why}`);
    throw new ManifestError(weights, cfg.tensorNames.wEnc, `has shape [${cfg.dIn}, ${cfg.dSae}] (d_in ${cfg.dIn}); ${why}`);
  }
  // Labels are read here too, so a corrupt export stops the load rather than the engine.
  const labels = m.sae.labels ? at(m.sae.labels) : null;
  if (labels && !existsSync(labels)) throw new ManifestError(file, 'sae.labels', `${labels} does not exist (a JSON list, a batch-N.jsonl.gz file, or a Neuronpedia export folder)`);
  if (labels) loadLabels(labels, cfg.dSae);

  let nla: ModelManifest['nla'] = null;
  if (m.nla) {
    const avDir = requireFile(file, 'nla.av.path', at(m.nla.av.path), 'dir');
    const avMetaFile = requireFile(file, 'nla.av.path', path.join(avDir, 'nla_meta.yaml'));
    const avMeta = loadNlaMeta(avMetaFile);
    checkNlaMeta(avMeta, 'av', d, m.subject.layer);
    if (!avMeta.tokens) throw new ManifestError(avMetaFile, 'tokens', 'an AV sidecar needs tokens.injection_char and tokens.injection_token_id');
    if (avMeta.injectionScale === null) throw new ManifestError(avMetaFile, 'extraction.injection_scale', 'an AV sidecar needs a positive injection_scale');
    const av = m.nla.av;
    const avDirAt = (rel: string) => path.resolve(avDir, rel);
    const table = resolveEmbeddingTable(file, avDir, av.embeddings, av.embedding_key, d);
    nla = {
      av: {
        backend: av.backend,
        dir: avDir,
        meta: avMeta as AvSpec['meta'],
        onnx: av.onnx ? requireFile(file, 'nla.av.onnx', avDirAt(av.onnx)) : null,
        embeddings: table.file,
        embeddingKey: table.key,
        embedScale: resolveEmbedScale(file, avDir, av.embed_scale, d),
        eosTokenIds: Array.isArray(av.eos_token_id) ? av.eos_token_id : [av.eos_token_id],
        maxNewTokens: av.max_new_tokens,
        tokenizer: av.tokenizer ? requireFile(file, 'nla.av.tokenizer', avDirAt(av.tokenizer)) : subject.tokenizer,
        chatTemplate: av.chat_template ?? null,
        options: av,
      },
      ar: undefined as unknown as ArSpec,
    };
    if (av.backend === 'onnx' && !nla.av.onnx) throw new ManifestError(file, 'nla.av.onnx', 'the onnx backend needs the decoder graph file');
    if (avMeta.tokens.injectionTokenId >= table.rows) {
      throw new ManifestError(avMetaFile, 'tokens.injection_token_id', `${avMeta.tokens.injectionTokenId} is outside the embedding table (${table.rows} rows)`);
    }

    const ar = m.nla.ar;
    if (!ar.path && ar.backend === 'onnx') throw new ManifestError(file, 'nla.ar.path', 'the onnx AR needs its folder (with nla_meta.yaml)');
    const arDir = ar.path ? requireFile(file, 'nla.ar.path', at(ar.path), 'dir') : dir;
    // A remote /score AR fills its own template server-side; its sidecar is optional.
    const arMeta: NlaMeta = ar.path
      ? loadNlaMeta(requireFile(file, 'nla.ar.path', path.join(arDir, 'nla_meta.yaml')))
      : { ...avMeta, file, role: 'ar', injectionScale: null, arTemplate: avMeta.arTemplate ?? '{explanation}' };
    checkNlaMeta(arMeta, 'ar', d, m.subject.layer);
    if (ar.path && isReleasedArFolder(arDir)) {
      if (ar.backend === 'onnx' && !ar.onnx?.endsWith('.onnx')) throw new ManifestError(file, 'nla.ar.backend', releasedArAsOnnxMessage(arDir));
      checkReleasedArDepth(arDir, m.subject.layer);
    }
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
