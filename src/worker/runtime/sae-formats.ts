/**
 * SAE folders as their owners write them, resolved into one `SaeConfig`:
 * - SAELens (3.0 to 6.x): `cfg.json` + `sae_weights.safetensors`; standard, jumprelu, topk and
 *   gated; 3.x's boolean `normalize_activations`; pre-6 topk written as an activation function;
 * - Gemma Scope: `params.npz` (upper-case `W_enc`...), or `params.safetensors` in either case,
 *   jumprelu without `b_dec` subtraction, sizes read off the tensors;
 * - float64 weights, narrowed to float32 at load.
 *
 * Everything that could stop the engine is checked here, when the manifest loads: tensor names,
 * shapes and dtypes, and whether float64 values fit float32.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ManifestError } from './manifest-files';
import { readNpyArray, readNpzDirectory } from './npy';
import { readSafetensorsHeader, readTensors } from './safetensors';

export type SaeArchitecture = 'standard' | 'jumprelu' | 'topk' | 'gated';
export type NormalizeActivations = 'none' | 'expected_average_only_in' | 'constant_norm_rescale' | 'layer_norm';

export interface SaeTensorNames {
  wEnc: string;
  /** Null for gated SAEs, which have b_gate and b_mag instead. */
  bEnc: string | null;
  wDec: string;
  bDec: string;
  threshold: string | null;
  bGate?: string;
  bMag?: string;
  rMag?: string;
}

export interface SaeConfig {
  architecture: SaeArchitecture;
  dIn: number;
  dSae: number;
  k: number | null;
  applyBDecToInput: boolean;
  normalizeActivations: NormalizeActivations;
  rescaleActsByDecoderNorm: boolean;
  /** expected_average_only_in: the registry's norm_scaling_factor, given in the manifest. */
  scalingFactor: number | null;
  hookName?: string;
  tensorNames: SaeTensorNames;
}

export interface SaeWeights {
  wEnc: Float32Array; // [dIn, dSae]
  bEnc: Float32Array; // [dSae]; zeros for gated SAEs
  wDec: Float32Array; // [dSae, dIn]
  bDec: Float32Array; // [dIn]
  threshold: Float32Array | null; // [dSae]
  gated?: { bGate: Float32Array; bMag: Float32Array; rMag: Float32Array } | null;
}

export const SAE_ARCHITECTURES: SaeArchitecture[] = ['standard', 'jumprelu', 'topk', 'gated'];
const NORMALIZE_MODES: NormalizeActivations[] = ['none', 'expected_average_only_in', 'constant_norm_rescale', 'layer_norm'];
/** SAELens's DTYPE_MAP keys: the cfg dtypes it can load. */
const CFG_DTYPES = ['float32', 'float64', 'float16', 'bfloat16'];
const WEIGHT_FILES = ['sae_weights.safetensors', 'params.safetensors', 'params.npz'];

const SaeCfgSchema = z.looseObject({
  architecture: z.string().optional(),
  d_in: z.number().int().min(1),
  d_sae: z.number().int().min(1),
  dtype: z.string().optional(),
  k: z.number().int().min(1).optional(),
  /** Pre-6 SAELens: `activation_fn_str` (renamed `activation_fn` on load), "topk" with kwargs.k. */
  activation_fn_str: z.string().optional(),
  activation_fn: z.string().optional(),
  activation_fn_kwargs: z.looseObject({ k: z.number().int().optional() }).nullable().optional(),
  apply_b_dec_to_input: z.boolean().default(true),
  /** SAELens 3.0-3.3 wrote a boolean: true meant expected_average_only_in. */
  normalize_activations: z.union([z.string(), z.boolean()]).nullable().default('none'),
  rescale_acts_by_decoder_norm: z.boolean().default(false),
  reshape_activations: z.string().optional(),
  finetuning_scaling_factor: z.boolean().optional(),
  hook_name: z.string().optional(),
  metadata: z.looseObject({ hook_name: z.string().optional(), model_name: z.string().optional() }).optional(),
});

export interface SaeFolderOptions {
  /** The weights file, relative to the folder (the manifest's sae.weights). */
  weights?: string;
  /** The manifest's sae.norm_scaling_factor. */
  normScalingFactor?: number | null;
  /** The manifest, named in errors about its own fields. */
  manifestFile?: string;
  /** The subject's layer: an SAE whose hook names another block is refused. */
  subjectLayer?: number;
}

/**
 * The block whose output a TransformerLens residual hook reads: `hook_resid_post` of block L,
 * or `hook_resid_pre` of block L + 1. Null for names this cannot tell (other libraries' hooks).
 */
function residualLayer(hookName: string): number | 'mid' | null {
  const m = /^blocks\.(\d+)\.hook_resid_(pre|mid|post)$/.exec(hookName);
  if (!m) return null;
  if (m[2] === 'mid') return 'mid';
  return m[2] === 'post' ? Number(m[1]) : Number(m[1]) - 1;
}

interface TensorListing {
  file: string;
  tensors: Map<string, { dtype: string; shape: number[] }>;
}

function listTensors(file: string): TensorListing {
  try {
    if (file.endsWith('.npz')) {
      const dir = readNpzDirectory(file);
      return { file, tensors: new Map([...dir.arrays].map(([n, a]) => [n, { dtype: a.dtype, shape: a.shape }])) };
    }
    const header = readSafetensorsHeader(file);
    return { file, tensors: new Map([...header.tensors].map(([n, t]) => [n, { dtype: t.dtype, shape: t.shape }])) };
  } catch (err) {
    throw new ManifestError(file, '', (err as Error).message.replace(`${file}: `, ''));
  }
}

/** Whole tensors as float32, from safetensors or npz. */
export function readWeightTensors(file: string, names: string[]): Map<string, Float32Array> {
  if (file.endsWith('.npz')) {
    const dir = readNpzDirectory(file);
    return new Map(names.map((n) => [n, readNpyArray(dir, n)]));
  }
  return new Map([...readTensors(file, names)].map(([n, t]) => [n, t.data]));
}

function pickName(listing: TensorListing, ...candidates: string[]): string | null {
  return candidates.find((c) => listing.tensors.has(c)) ?? null;
}

function resolveWeightsFile(dir: string, weights?: string): string {
  if (weights) {
    const file = path.resolve(dir, weights);
    if (!existsSync(file)) throw new ManifestError(file, '', 'does not exist (named by sae.weights)');
    return file;
  }
  const found = WEIGHT_FILES.map((f) => path.join(dir, f)).find((f) => existsSync(f));
  if (!found) throw new ManifestError(dir, '', `holds none of ${WEIGHT_FILES.join(', ')} (SAELens writes cfg.json + sae_weights.safetensors; Gemma Scope ships params.npz or params.safetensors)`);
  return found;
}

function parseCfg(cfgFile: string): z.infer<typeof SaeCfgSchema> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(cfgFile, 'utf8'));
  } catch (err) {
    throw new ManifestError(cfgFile, '', `is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = SaeCfgSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ManifestError(cfgFile, issue.path.join('.'), issue.message);
  }
  return parsed.data;
}

/** SAELens's reading of a cfg.json's architecture, normalization and k, checked. */
function resolveCfg(cfgFile: string, c: z.infer<typeof SaeCfgSchema>) {
  let arch = c.architecture ?? 'standard';
  if (arch === 'relu') arch = 'standard';
  const fn = c.activation_fn ?? c.activation_fn_str;
  if (arch === 'standard' && fn === 'topk') arch = 'topk';
  if (!(SAE_ARCHITECTURES as string[]).includes(arch)) {
    throw new ManifestError(cfgFile, 'architecture', `"${arch}" is not an SAE architecture this worker runs; it runs ${SAE_ARCHITECTURES.join(', ')} (transcoders and training-only architectures are not read)`);
  }
  const k = c.k ?? c.activation_fn_kwargs?.k ?? null;
  if (arch === 'topk' && (k === null || k > c.d_sae)) throw new ManifestError(cfgFile, 'k', `a topk SAE needs k between 1 and d_sae (${c.d_sae})`);
  const rawNorm = c.normalize_activations;
  const norm = (rawNorm === true ? 'expected_average_only_in' : rawNorm === false || rawNorm === null ? 'none' : rawNorm) as NormalizeActivations;
  if (!NORMALIZE_MODES.includes(norm)) {
    throw new ManifestError(cfgFile, 'normalize_activations', `"${norm}" is not supported; use ${NORMALIZE_MODES.join(', ')} (or SAELens 3.x's true / false)`);
  }
  const dtype = c.dtype?.replace(/^torch\./, '');
  if (dtype !== undefined && !CFG_DTYPES.includes(dtype)) throw new ManifestError(cfgFile, 'dtype', `"${c.dtype}" is not one SAELens loads; use ${CFG_DTYPES.join(', ')}`);
  if (c.finetuning_scaling_factor) {
    throw new ManifestError(cfgFile, 'finetuning_scaling_factor', 'is true: SAEs with a fine-tuned decoder scaling factor are not read (current SAELens refuses them too)');
  }
  return { arch: arch as SaeArchitecture, k: arch === 'topk' ? k : null, norm };
}

/**
 * Read and check an SAE folder, so that the engine's load cannot fail later. Weights are read
 * here only where a check needs them: float64 tensors (do they fit float32?) and a legacy
 * scaling_factor (all ones?).
 */
export function loadSaeFolder(dir: string, opts: SaeFolderOptions = {}): { cfg: SaeConfig; weights: string } {
  const weights = resolveWeightsFile(dir, opts.weights);
  const listing = listTensors(weights);
  const names: SaeTensorNames = {
    wEnc: pickName(listing, 'W_enc', 'w_enc') ?? 'W_enc',
    bEnc: pickName(listing, 'b_enc'),
    wDec: pickName(listing, 'W_dec', 'w_dec') ?? 'W_dec',
    bDec: 'b_dec',
    threshold: pickName(listing, 'threshold'),
  };
  const have = [...listing.tensors.keys()].join(', ');
  const requireTensor = (name: string, why: string) => {
    if (!listing.tensors.has(name)) throw new ManifestError(weights, name, `tensor is missing; ${why} (the file has: ${have})`);
  };
  requireTensor(names.wEnc, 'every SAE needs W_enc (or w_enc)');
  const wEncShape = listing.tensors.get(names.wEnc)!.shape;
  if (wEncShape.length !== 2) throw new ManifestError(weights, names.wEnc, `has shape [${wEncShape}]; [d_in, d_sae] expected`);

  const cfgFile = path.join(dir, 'cfg.json');
  const manifestFile = opts.manifestFile ?? path.join(dir, 'manifest.yaml');
  let cfg: SaeConfig;
  if (existsSync(cfgFile)) {
    const c = parseCfg(cfgFile);
    const { arch, k, norm } = resolveCfg(cfgFile, c);
    cfg = {
      architecture: arch,
      dIn: c.d_in,
      dSae: c.d_sae,
      k,
      applyBDecToInput: c.apply_b_dec_to_input,
      normalizeActivations: norm,
      rescaleActsByDecoderNorm: c.rescale_acts_by_decoder_norm,
      scalingFactor: null,
      hookName: c.metadata?.hook_name ?? c.hook_name,
      tensorNames: names,
    };
    if (c.reshape_activations === 'hook_z') {
      throw new ManifestError(cfgFile, 'reshape_activations', 'is "hook_z": this SAE reads attention outputs, not the residual stream the worker feeds it');
    }
    const hookLayer = cfg.hookName ? residualLayer(cfg.hookName) : null;
    if (hookLayer !== null && opts.subjectLayer !== undefined && hookLayer !== opts.subjectLayer) {
      const field = c.metadata?.hook_name ? 'metadata.hook_name' : 'hook_name';
      const reads = hookLayer === 'mid' ? 'the middle of a block' : `the output of block ${hookLayer}`;
      throw new ManifestError(cfgFile, field, `is "${cfg.hookName}", ${reads}; the manifest's subject.layer is ${opts.subjectLayer} (the output of block ${opts.subjectLayer})`);
    }
    if (norm === 'expected_average_only_in') {
      if (opts.normScalingFactor == null) {
        throw new ManifestError(
          manifestFile,
          'sae.norm_scaling_factor',
          `is needed: ${cfgFile} says normalize_activations ${JSON.stringify(c.normalize_activations)}, so SAELens multiplies every input by a scaling factor that cfg.json does not hold. SAELens keeps it in its registry (sae_lens/pretrained_saes.yaml: the norm_scaling_factor of this SAE's id under its release); copy it into sae.norm_scaling_factor`,
        );
      }
      cfg.scalingFactor = opts.normScalingFactor;
    }
  } else if (path.basename(weights).startsWith('params.')) {
    // Gemma Scope ships no config: JumpReLU on the raw residual (SAELens's Gemma Scope loader sets
    // apply_b_dec_to_input false and no normalization).
    cfg = {
      architecture: 'jumprelu',
      dIn: wEncShape[0],
      dSae: wEncShape[1],
      k: null,
      applyBDecToInput: false,
      normalizeActivations: 'none',
      rescaleActsByDecoderNorm: false,
      scalingFactor: null,
      tensorNames: names,
    };
  } else {
    throw new ManifestError(cfgFile, '', 'does not exist (SAELens folders hold cfg.json beside sae_weights.safetensors; only Gemma Scope params.* files go without one)');
  }
  if (opts.normScalingFactor != null && cfg.normalizeActivations !== 'expected_average_only_in') {
    throw new ManifestError(manifestFile, 'sae.norm_scaling_factor', `is set, but the SAE's normalize_activations is ${cfg.normalizeActivations}; the factor applies only to expected_average_only_in SAEs (a folded SAE already has it in its weights)`);
  }

  checkTensors(weights, listing, cfg);
  return { cfg, weights };
}

function checkTensors(weights: string, listing: TensorListing, cfg: SaeConfig): void {
  const names = cfg.tensorNames;
  const have = [...listing.tensors.keys()].join(', ');
  const arch = cfg.architecture;
  const looksGated = listing.tensors.has('b_gate') && !listing.tensors.has('b_enc');
  const need = (name: string | null, fallback: string, why: string): string => {
    if (name && listing.tensors.has(name)) return name;
    const hint = looksGated && arch !== 'gated' ? `; the file has b_gate, b_mag and r_mag: a gated SAE, but the cfg says "${arch}"` : '';
    throw new ManifestError(weights, name ?? fallback, `tensor is missing; ${why}${hint} (the file has: ${have})`);
  };
  need(names.wDec, 'W_dec', 'every SAE needs W_dec (or w_dec)');
  need(names.bDec, 'b_dec', 'every SAE needs b_dec');
  if (arch === 'gated') {
    names.bEnc = null;
    names.bGate = need('b_gate', 'b_gate', 'a gated SAE needs b_gate, b_mag and r_mag');
    names.bMag = need('b_mag', 'b_mag', 'a gated SAE needs b_gate, b_mag and r_mag');
    names.rMag = need('r_mag', 'r_mag', 'a gated SAE needs b_gate, b_mag and r_mag');
  } else {
    need(names.bEnc, 'b_enc', `a ${arch} SAE needs b_enc`);
  }
  if (arch === 'jumprelu') need(names.threshold, 'threshold', 'a jumprelu SAE needs a threshold tensor');
  else names.threshold = null;

  const { dIn, dSae } = cfg;
  const expected: [string | null | undefined, number[], string][] = [
    [names.wEnc, [dIn, dSae], `[d_in ${dIn}, d_sae ${dSae}]`],
    [names.wDec, [dSae, dIn], `[d_sae ${dSae}, d_in ${dIn}]`],
    [names.bDec, [dIn], `[d_in ${dIn}]`],
    [names.bEnc, [dSae], `[d_sae ${dSae}]`],
    [names.threshold, [dSae], `[d_sae ${dSae}]`],
    [names.bGate, [dSae], `[d_sae ${dSae}]`],
    [names.bMag, [dSae], `[d_sae ${dSae}]`],
    [names.rMag, [dSae], `[d_sae ${dSae}]`],
  ];
  const f64: string[] = [];
  for (const [name, shape, label] of expected) {
    if (!name) continue;
    const t = listing.tensors.get(name)!;
    if (!['F64', 'F32', 'F16', 'BF16'].includes(t.dtype)) throw new ManifestError(weights, name, `is ${t.dtype}; SAE weights must be float (F64, F32, F16 or BF16)`);
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      throw new ManifestError(weights, name, `has shape [${t.shape}]; ${label} expected (d_in and d_sae come from cfg.json, or from W_enc without one)`);
    }
    if (t.dtype === 'F64') f64.push(name);
  }
  // Float64 weights are narrowed to float32 at engine start; a value float32 cannot hold is
  // refused now rather than becoming an infinity there.
  if (f64.length) {
    for (const [name, data] of readWeightTensors(weights, f64)) {
      const bad = data.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw new ManifestError(weights, name, `element ${bad} is not finite in float32 (float64 weights are narrowed to float32; |x| must stay below 3.4e38)`);
    }
  }
  // SAELens 3.x saved a `scaling_factor` of ones beside the weights; anything else was a
  // fine-tuned decoder scale, which SAELens itself no longer loads.
  if (listing.tensors.has('scaling_factor')) {
    const s = readWeightTensors(weights, ['scaling_factor']).get('scaling_factor')!;
    if (s.some((v) => v !== 1)) throw new ManifestError(weights, 'scaling_factor', 'is not all ones: a fine-tuned decoder scaling factor, which is not read');
  }
}

/** The weights a checked config names, as float32 (float64 narrowed, float16/bf16 widened). */
export function readSaeWeights(cfg: SaeConfig, file: string): SaeWeights {
  const n = cfg.tensorNames;
  const want = [n.wEnc, n.wDec, n.bDec, n.bEnc, n.threshold, n.bGate, n.bMag, n.rMag].filter((x): x is string => !!x);
  const t = readWeightTensors(file, want);
  return {
    wEnc: t.get(n.wEnc)!,
    bEnc: n.bEnc ? t.get(n.bEnc)! : new Float32Array(cfg.dSae),
    wDec: t.get(n.wDec)!,
    bDec: t.get(n.bDec)!,
    threshold: n.threshold ? t.get(n.threshold)! : null,
    gated: cfg.architecture === 'gated' ? { bGate: t.get(n.bGate!)!, bMag: t.get(n.bMag!)!, rMag: t.get(n.rMag!)! } : null,
  };
}
