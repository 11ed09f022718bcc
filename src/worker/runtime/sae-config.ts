/**
 * An SAE folder: SAELens `cfg.json` beside `sae_weights.safetensors`, or Gemma Scope's
 * `params.safetensors` alone. Sizes are checked against the tensor shapes in the weights header.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ManifestError, parseJsonFile, readText, zodFail } from './manifest-files';
import { readSafetensorsHeader } from './safetensors';

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
