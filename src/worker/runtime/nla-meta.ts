/**
 * The `nla_meta.yaml` sidecar of an NLA checkpoint: its role, d_model, layer, injection scale,
 * injection token and prompt templates.
 *
 * It is read in both of the shapes the NLA release writes:
 * - the training code's (`write_model_sidecar`): `role: actor|critic`, templates `actor`/`critic`,
 *   the AR's depth as `critic.extraction_layer_index` (schema 1: `critic.num_hidden_layers`);
 * - the published checkpoints' (its upload step and `docs/inference.md`): `role: av|ar`,
 *   templates `av`/`ar`, a top-level `extraction_layer_index`, the AR's depth as
 *   `ar.num_hidden_layers`.
 * Every layer or depth the sidecar states is kept with the field it came from, so a mismatch with
 * the subject's layer can name the line to fix.
 */
import { z } from 'zod';
import { ManifestError, parseYamlFile, readText, zodFail } from './manifest-files';

const Layer = z.number().int().min(0);
/** A model sidecar stores resolved floats; the `sqrt_d_model` sentinel of dataset sidecars is accepted too. */
const Scale = z.union([z.number().positive(), z.literal('sqrt_d_model')]).nullable().optional();
const Template = z.string().nullable().optional();

const NlaMetaSchema = z.object({
  schema_version: z.number().int().optional(),
  kind: z.string().optional(),
  role: z.string({
    error: (issue) => (issue.input === undefined ? 'is missing; say av (or actor) for the AV, ar (or critic) for the AR' : 'must be a string: av, actor, ar or critic'),
  }),
  d_model: z.number().int().min(1),
  layer_index: Layer.optional(),
  extraction_layer_index: Layer.nullable().optional(),
  extraction: z
    .object({
      layer_index: Layer.optional(),
      injection_scale: Scale,
      mse_scale: Scale,
    })
    .nullable()
    .optional(),
  tokens: z
    .object({
      injection_char: z.string().min(1).nullable().optional(),
      injection_token_id: z.number().int().min(0).nullable().optional(),
      injection_left_neighbor_id: z.number().int().min(0).nullable().optional(),
      injection_right_neighbor_id: z.number().int().min(0).nullable().optional(),
      critic_suffix_ids: z.array(z.number().int().min(0)).nullable().optional(),
    })
    .nullable()
    .optional(),
  prompt_templates: z.object({ av: Template, ar: Template, actor: Template, critic: Template }),
  ar: z.object({ num_hidden_layers: Layer.nullable().optional() }).nullable().optional(),
  critic: z.object({ extraction_layer_index: Layer.nullable().optional(), num_hidden_layers: Layer.nullable().optional() }).nullable().optional(),
});

const ROLES: Record<string, 'av' | 'ar'> = { av: 'av', actor: 'av', ar: 'ar', critic: 'ar' };

export interface NlaTokens {
  injectionChar: string;
  injectionTokenId: number;
  leftNeighborId: number | null;
  rightNeighborId: number | null;
}

/** One statement of the layer in a sidecar: the field that says it and its value. */
export interface NlaLayerField {
  field: string;
  value: number;
}

export interface NlaMeta {
  file: string;
  role: 'av' | 'ar';
  dModel: number;
  /** The first layer the sidecar states (null when none), for display. */
  layerIndex: number | null;
  /** Every layer or AR depth the sidecar states; each must equal the subject's layer. */
  layerFields: NlaLayerField[];
  injectionScale: number | null;
  mseScale: number | null;
  tokens: NlaTokens | null;
  /** The stable tail of the tokenized AR template, for a start-up check of the AR's tokenizer. */
  criticSuffixIds: number[] | null;
  avTemplate: string | null;
  arTemplate: string | null;
}

/** Read an `nla_meta.yaml` sidecar (schema_version 1 or 2, in either shape). */
export function loadNlaMeta(file: string): NlaMeta {
  const raw = parseYamlFile(file, readText(file));
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ManifestError(file, '', 'is empty or not a YAML mapping; a sidecar maps kind, role, d_model, extraction, tokens and prompt_templates');
  }
  const parsed = NlaMetaSchema.safeParse(raw);
  if (!parsed.success) zodFail(file, parsed.error);
  const m = parsed.data;
  if (m.schema_version !== undefined && (m.schema_version < 1 || m.schema_version > 2)) {
    throw new ManifestError(file, 'schema_version', `is ${m.schema_version}; this worker reads versions 1 and 2`);
  }
  if (m.kind !== undefined && m.kind !== 'nla_model') {
    const why = m.kind === 'nla_dataset' ? ' (a dataset sidecar describes training data; point the manifest at the checkpoint folder)' : '';
    throw new ManifestError(file, 'kind', `is "${m.kind}"; a checkpoint's sidecar says nla_model${why}`);
  }
  const role = ROLES[m.role];
  if (!role) throw new ManifestError(file, 'role', `is "${m.role}"; allowed: av or actor (the AV), ar or critic (the AR)`);

  const extraction = m.extraction ?? {};
  const tokens = m.tokens ?? {};
  if ((tokens.injection_char == null) !== (tokens.injection_token_id == null)) {
    const missing = tokens.injection_char == null ? 'injection_char' : 'injection_token_id';
    throw new ManifestError(file, `tokens.${missing}`, 'is missing; injection_char and injection_token_id go together');
  }
  const fields = layerFields(m);
  return {
    file,
    role,
    dModel: m.d_model,
    layerIndex: fields[0]?.value ?? null,
    layerFields: fields,
    injectionScale: resolveScale(extraction.injection_scale, m.d_model),
    mseScale: resolveScale(extraction.mse_scale, m.d_model),
    tokens:
      tokens.injection_char != null && tokens.injection_token_id != null
        ? {
            injectionChar: tokens.injection_char,
            injectionTokenId: tokens.injection_token_id,
            leftNeighborId: tokens.injection_left_neighbor_id ?? null,
            rightNeighborId: tokens.injection_right_neighbor_id ?? null,
          }
        : null,
    criticSuffixIds: tokens.critic_suffix_ids?.length ? tokens.critic_suffix_ids : null,
    avTemplate: pickTemplate(file, m.prompt_templates, 'av', 'actor'),
    arTemplate: pickTemplate(file, m.prompt_templates, 'ar', 'critic'),
  };
}

function layerFields(m: z.infer<typeof NlaMetaSchema>): NlaLayerField[] {
  const candidates: Array<[string, number | null | undefined]> = [
    ['extraction_layer_index', m.extraction_layer_index],
    ['extraction.layer_index', m.extraction?.layer_index],
    ['layer_index', m.layer_index],
    // The AR keeps K+1 blocks and stores K: the depth is the layer it reconstructs.
    ['ar.num_hidden_layers', m.ar?.num_hidden_layers],
    ['critic.extraction_layer_index', m.critic?.extraction_layer_index],
    ['critic.num_hidden_layers', m.critic?.num_hidden_layers],
  ];
  return candidates.filter((c): c is [string, number] => c[1] != null).map(([field, value]) => ({ field, value }));
}

function resolveScale(v: number | 'sqrt_d_model' | null | undefined, d: number): number | null {
  if (v == null) return null;
  return v === 'sqrt_d_model' ? Math.sqrt(d) : v;
}

/** The published name wins over the training code's, as in the release's loader; two different texts are refused. */
function pickTemplate(file: string, t: Record<string, string | null | undefined>, published: 'av' | 'ar', training: 'actor' | 'critic'): string | null {
  const a = t[published] ?? null;
  const b = t[training] ?? null;
  if (a !== null && b !== null && a !== b) {
    throw new ManifestError(file, `prompt_templates.${training}`, `differs from prompt_templates.${published}; keep one of the two`);
  }
  return a ?? b;
}

/**
 * Check a sidecar against the folder it sits in and the subject model: the role, d_model, every
 * layer or depth it states, and the template the role needs. Throws ManifestError naming the
 * sidecar's field.
 */
export function checkNlaMeta(meta: NlaMeta, role: 'av' | 'ar', d: number, layer: number): void {
  if (meta.role !== role) throw new ManifestError(meta.file, 'role', `is the ${meta.role.toUpperCase()}'s; this folder is the ${role.toUpperCase()}`);
  if (meta.dModel !== d) throw new ManifestError(meta.file, 'd_model', `is ${meta.dModel}; the manifest's subject.d_model is ${d}`);
  for (const { field, value } of meta.layerFields) {
    if (value !== layer) throw new ManifestError(meta.file, field, `is ${value}; the manifest's subject.layer is ${layer}`);
  }
  const [key, alias, placeholder] = role === 'av' ? ['av', 'actor', '{injection_char}'] : ['ar', 'critic', '{explanation}'];
  const template = role === 'av' ? meta.avTemplate : meta.arTemplate;
  if (template === null) throw new ManifestError(meta.file, `prompt_templates.${key}`, `is missing (neither prompt_templates.${key} nor prompt_templates.${alias} is set)`);
  const sites = template.split(placeholder).length - 1;
  if (sites !== 1) {
    throw new ManifestError(meta.file, `prompt_templates.${key}`, sites === 0 ? `has no ${placeholder} placeholder` : `has ${sites} ${placeholder} placeholders; exactly 1 is allowed`);
  }
}
