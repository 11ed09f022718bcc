/**
 * The `nla_meta.yaml` sidecar of an NLA checkpoint: its role, d_model, extraction layer and
 * injection scale, injection token, and prompt templates.
 */
import { z } from 'zod';
import { ManifestError, parseYamlFile, readText, zodFail } from './manifest-files';

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
