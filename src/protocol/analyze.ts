/**
 * The contract of `POST /v1/analyze` and `GET /v1/capabilities`: the single source of truth
 * for the worker's HTTP edge, for the engine behind it, and for the bot's client in
 * `src/inference/`. It lives outside both so that neither imports the other.
 *
 * Field names are snake_case because they are a wire format that non-TypeScript tools
 * (curl, Python notebooks) read.
 */
import { z } from 'zod';

export const AnalyzeRequestSchema = z
  .object({
    prompt: z.string().min(1, 'prompt is empty'),
    /** Token positions to analyse. Negative indices count from the end (-1 = last token). */
    positions: z.array(z.number().int()).min(1).max(64).optional(),
    /** How many SAE features to return per position. */
    top_k: z.number().int().min(1).max(128).default(8),
    /** NLA verbalizations per position (0 = SAE only). */
    nla_samples: z.number().int().min(0).max(16).default(1),
    /** 0 means greedy. When omitted: greedy for one sample, 1.0 for several. */
    temperature: z.number().min(0).max(2).optional(),
    max_new_tokens: z.number().int().min(1).max(1024).optional(),
    seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
    return_activations: z.boolean().default(false),
  })
  .strict();
export type AnalyzeRequest = z.infer<typeof AnalyzeRequestSchema>;
export type AnalyzeRequestInput = z.input<typeof AnalyzeRequestSchema>;

export const TokenSchema = z.object({
  id: z.number().int(),
  /** Decoded text of this token alone; bytes that are only part of a character read as hex, `<F0 9F>`. */
  text: z.string(),
  /** Offsets into `prompt`, in JavaScript string indices (UTF-16 code units); [start, end). */
  start: z.number().int(),
  end: z.number().int(),
  /** True for tokens the tokenizer added (BOS); they have empty offsets. */
  special: z.boolean().default(false),
});
export type Token = z.infer<typeof TokenSchema>;

export const SaeFeatureSchema = z.object({
  index: z.number().int(),
  activation: z.number(),
  label: z.string(),
});
export type SaeFeature = z.infer<typeof SaeFeatureSchema>;

export const SaeBlockSchema = z.object({
  features: z.array(SaeFeatureSchema),
  /** Number of non-zero features at this position; null when the backend could not count them. */
  l0: z.number().int().nullable(),
  /**
   * SAELens-style explained variance, per position: 1 - ||x - r||^2 / V, where
   * V = E||x||^2 - ||E x||^2 over the model's reference set (stats.json `raw_total_variance`).
   */
  explained_variance: z.number(),
  /** 1 - mse_nrm(r, x) / B, the same scale as the NLA round trip. */
  fve_nrm: z.number(),
});
export type SaeBlock = z.infer<typeof SaeBlockSchema>;

export const ArScoreSchema = z.object({
  cosine: z.number(),
  /** 2 (1 - cosine), range 0..4. */
  mse_nrm: z.number(),
  /** 1 - mse_nrm / B. */
  fve_nrm: z.number(),
});
export type ArScore = z.infer<typeof ArScoreSchema>;

export const ExplanationSchema = z.object({
  /** The text inside <explanation>…</explanation>, or the raw text when the tags are missing. */
  text: z.string(),
  /** Everything the AV generated. */
  raw: z.string(),
  /** False when the <explanation> tags were missing. */
  parsed: z.boolean(),
  ar: ArScoreSchema,
});
export type Explanation = z.infer<typeof ExplanationSchema>;

export const PositionResultSchema = z.object({
  /** The resolved, non-negative token index. */
  position: z.number().int(),
  token: z.string(),
  sae: SaeBlockSchema,
  explanations: z.array(ExplanationSchema),
  /** Base64 of little-endian float32 [d_model], when return_activations was asked. */
  activation: z.string().optional(),
});
export type PositionResult = z.infer<typeof PositionResultSchema>;

export const TimingsSchema = z.object({
  tokenize: z.number(),
  subject: z.number(),
  sae: z.number(),
  av: z.number(),
  ar: z.number(),
  total: z.number(),
  /** Time spent waiting in the worker's queue before the batch started. */
  queue: z.number().default(0),
});
export type Timings = z.infer<typeof TimingsSchema>;

export const AnalyzeResponseSchema = z.object({
  model: z.string(),
  layer: z.number().int(),
  d_model: z.number().int(),
  tokens: z.array(TokenSchema),
  positions: z.array(PositionResultSchema),
  timings_ms: TimingsSchema,
});
export type AnalyzeResponse = z.infer<typeof AnalyzeResponseSchema>;

/** `POST /v1/tokenize`: how many tokens the model reads for a prompt, so a client can refuse it before queueing. */
export const TokenizeRequestSchema = z.object({ prompt: z.string().min(1, 'prompt is empty') }).strict();
export type TokenizeRequest = z.infer<typeof TokenizeRequestSchema>;

export const TokenizeResponseSchema = z.object({
  /** Tokens the model reads for the prompt, BOS included when the model adds one. */
  tokens: z.number().int(),
  /** The model's context: the most tokens a prompt may take. */
  max_tokens: z.number().int(),
});
export type TokenizeResponse = z.infer<typeof TokenizeResponseSchema>;

export const CapabilitiesSchema = z.object({
  model: z.string(),
  layer: z.number().int(),
  d_model: z.number().int(),
  max_tokens: z.number().int(),
  /** Longest prompt (UTF-16 code units) that can fit max_tokens; absent when the tokenizer gives no bound. */
  max_prompt_chars: z.number().int().optional(),
  sae: z.object({ width: z.number().int(), architecture: z.string(), hook_name: z.string().optional() }),
  nla: z.object({ av_backend: z.string(), ar_backend: z.string(), available: z.boolean() }),
  device: z.string(),
  version: z.string(),
});
export type Capabilities = z.infer<typeof CapabilitiesSchema>;

export function encodeActivation(v: Float32Array): string {
  const le = new Uint8Array(v.length * 4);
  const view = new DataView(le.buffer);
  for (let i = 0; i < v.length; i++) view.setFloat32(i * 4, v[i], true);
  return Buffer.from(le).toString('base64');
}

export function decodeActivation(b64: string): Float32Array {
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.length % 4 !== 0) throw new Error(`activation has ${bytes.length} bytes, not a multiple of 4`);
  const out = new Float32Array(bytes.length / 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}
