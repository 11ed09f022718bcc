/**
 * The dataset's columns: one list drives the JSONL keys, the explicit Parquet schema and the
 * field table of the dataset card, so the three cannot drift apart.
 *
 * Parquet lists are written with the standard three-level LIST layout (an OPTIONAL group with
 * converted_type LIST, a REPEATED group `list`, a REQUIRED `element`): without an explicit
 * schema hyparquet-writer stores arrays as JSON strings, which no reader sees as a list.
 */
import type { SchemaElement } from 'hyparquet-writer';

export type ScalarType = 'int32' | 'double' | 'float' | 'string' | 'boolean' | 'timestamp';

export interface ColumnSpec {
  name: string;
  type: ScalarType;
  /** A list of `type` (Parquet LIST, JSON array). */
  list?: boolean;
  /** May be null. Lists are never null (an empty list instead) except `activation`. */
  nullable?: boolean;
  /** A list whose elements may be null (`vote_notes`). */
  elementNullable?: boolean;
  /** A list of lists of `type` (`vote_marked_claims`). */
  nested?: boolean;
  description: string;
}

export interface DatasetRow {
  explanation_id: number;
  analysis_id: number;
  position_id: number;
  sample: number;
  model: string | null;
  layer: number | null;
  prompt: string;
  prompt_sha256: string;
  token: string;
  position: number;
  sae_feature_indices: number[];
  sae_feature_activations: number[];
  sae_feature_labels: string[];
  sae_l0: number | null;
  sae_explained_variance: number;
  sae_fve_nrm: number;
  explanation: string;
  explanation_parsed: boolean;
  source: string;
  ar_cosine: number | null;
  ar_mse_nrm: number | null;
  ar_fve_nrm: number | null;
  signal_feature_overlap: number | null;
  signal_judge: number | null;
  votes: string[];
  reviewer_ids: string[];
  /** Epoch milliseconds (the sinks write ISO 8601 in JSONL, TIMESTAMP_MILLIS in Parquet). */
  vote_timestamps: number[];
  vote_notes: Array<string | null>;
  vote_marked_claims: number[][];
  claims: string[];
  claim_wrong_counts: number[];
  majority_label: string | null;
  ds_label: string | null;
  ds_posterior: number | null;
  ds_p_confabulated: number | null;
  decisive_votes: number;
  unsure_votes: number;
  item_agreement: number | null;
  state: string;
  split: string;
  /** Epoch milliseconds. */
  created_at: number;
  activation?: number[] | Float32Array | null;
}

export const COLUMNS: ColumnSpec[] = [
  { name: 'explanation_id', type: 'int32', description: 'Explanation id in the source database (stable across exports).' },
  { name: 'analysis_id', type: 'int32', description: 'Analysis (one prompt sent to the model) the explanation belongs to.' },
  { name: 'position_id', type: 'int32', description: 'Analysed token position id.' },
  { name: 'sample', type: 'int32', description: 'Sample number of this NLA explanation at its position (0-based).' },
  { name: 'model', type: 'string', nullable: true, description: 'Model stack that produced the activation and the explanation.' },
  { name: 'layer', type: 'int32', nullable: true, description: 'Residual-stream layer L (output of block L).' },
  { name: 'prompt', type: 'string', description: 'The prompt text.' },
  { name: 'prompt_sha256', type: 'string', description: 'SHA-256 of the NFC prompt, hex; the split is derived from it.' },
  { name: 'token', type: 'string', description: 'The token whose activation was explained.' },
  { name: 'position', type: 'int32', description: 'Token index in the prompt (BOS = 0).' },
  { name: 'sae_feature_indices', type: 'int32', list: true, description: 'SAE top features at the position, strongest first.' },
  { name: 'sae_feature_activations', type: 'double', list: true, description: 'Their activations, parallel to sae_feature_indices.' },
  { name: 'sae_feature_labels', type: 'string', list: true, description: 'Their labels as they were when analysed.' },
  { name: 'sae_l0', type: 'int32', nullable: true, description: 'Number of active SAE features at the position; null when the inference backend did not count them.' },
  { name: 'sae_explained_variance', type: 'double', description: 'SAELens explained variance of the SAE reconstruction (raw activations).' },
  { name: 'sae_fve_nrm', type: 'double', description: 'SAE fve_nrm: 1 − mse_nrm/B on normalised activations, comparable with ar_fve_nrm.' },
  { name: 'explanation', type: 'string', description: 'The NLA (AV) explanation text.' },
  { name: 'explanation_parsed', type: 'boolean', description: 'False when the AV output had no <explanation> tags (raw text kept).' },
  { name: 'source', type: 'string', description: "Where the explanation came from: 'nla' (decoys are never rows)." },
  { name: 'ar_cosine', type: 'double', nullable: true, description: 'AR round trip: cosine between the AR reconstruction and the activation.' },
  { name: 'ar_mse_nrm', type: 'double', nullable: true, description: 'AR round trip: mse_nrm = 2(1 − cosine).' },
  { name: 'ar_fve_nrm', type: 'double', nullable: true, description: 'AR round trip: fve_nrm = 1 − mse_nrm/B (automatic signal).' },
  { name: 'signal_feature_overlap', type: 'double', nullable: true, description: 'Share of the explanation content words named by an active SAE feature label (automatic signal).' },
  { name: 'signal_judge', type: 'double', nullable: true, description: 'LLM judge faithfulness score in [0, 1], when a judge was configured (automatic signal).' },
  { name: 'votes', type: 'string', list: true, description: "Each reviewer's current vote: faithful, confabulated or unsure." },
  { name: 'reviewer_ids', type: 'string', list: true, description: 'Pseudonymous reviewer ids (HMAC-SHA256 under a per-install secret), parallel to votes.' },
  { name: 'vote_timestamps', type: 'timestamp', list: true, description: 'When each vote was last cast or changed (UTC), parallel to votes.' },
  { name: 'vote_notes', type: 'string', list: true, elementNullable: true, description: "Each reviewer's note, parallel to votes; null where the reviewer wrote none." },
  {
    name: 'vote_marked_claims',
    type: 'int32',
    list: true,
    nested: true,
    description: 'The claims each reviewer marked as wrong, as 1-based indices into claims, parallel to votes (an empty list where none).',
  },
  { name: 'claims', type: 'string', list: true, description: 'The claims (sentences) of the explanation, as shown to reviewers to mark; numbered from 1.' },
  { name: 'claim_wrong_counts', type: 'int32', list: true, description: 'How many reviewers marked each claim wrong, parallel to claims.' },
  { name: 'majority_label', type: 'string', nullable: true, description: 'Majority of decisive votes (unsure excluded); null when tied or unvoted.' },
  { name: 'ds_label', type: 'string', nullable: true, description: 'Dawid–Skene label (EM with one confusion matrix per reviewer).' },
  { name: 'ds_posterior', type: 'double', nullable: true, description: 'Dawid–Skene posterior probability of ds_label.' },
  { name: 'ds_p_confabulated', type: 'double', nullable: true, description: 'Dawid–Skene posterior probability that the explanation is confabulated.' },
  { name: 'decisive_votes', type: 'int32', description: 'Number of faithful + confabulated votes.' },
  { name: 'unsure_votes', type: 'int32', description: 'Number of unsure votes (recorded, not a label).' },
  { name: 'item_agreement', type: 'double', nullable: true, description: 'Share of decisive votes agreeing with the most common label.' },
  { name: 'state', type: 'string', description: "Review state at export time: 'open' or 'closed'." },
  { name: 'split', type: 'string', description: 'train, validation or test, from the prompt hash.' },
  { name: 'created_at', type: 'timestamp', description: 'When the explanation was stored (UTC).' },
];

export const ACTIVATION_COLUMN: ColumnSpec = {
  name: 'activation',
  type: 'float',
  list: true,
  nullable: true,
  description: 'The residual-stream activation at the position, float32 [d_model] (with --include-activations).',
};

export function columnsFor(includeActivations: boolean): ColumnSpec[] {
  return includeActivations ? [...COLUMNS, ACTIVATION_COLUMN] : COLUMNS;
}

function leaf(name: string, type: ScalarType, repetition: 'REQUIRED' | 'OPTIONAL'): SchemaElement {
  switch (type) {
    case 'int32':
      return { name, type: 'INT32', repetition_type: repetition };
    case 'double':
      return { name, type: 'DOUBLE', repetition_type: repetition };
    case 'float':
      return { name, type: 'FLOAT', repetition_type: repetition };
    case 'boolean':
      return { name, type: 'BOOLEAN', repetition_type: repetition };
    case 'string':
      return { name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: repetition };
    case 'timestamp':
      // The logical type says the instants are UTC, so DuckDB and pandas read them as such; the
      // converted type stays for readers that know only the legacy annotation.
      return {
        name,
        type: 'INT64',
        converted_type: 'TIMESTAMP_MILLIS',
        logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
        repetition_type: repetition,
      };
  }
}

/** The explicit Parquet schema (flattened, depth-first, as the Parquet footer stores it). */
export function parquetSchema(columns: ColumnSpec[]): SchemaElement[] {
  const schema: SchemaElement[] = [{ name: 'root', num_children: columns.length }];
  for (const c of columns) {
    if (c.list) {
      schema.push({ name: c.name, repetition_type: c.nullable ? 'OPTIONAL' : 'REQUIRED', num_children: 1, converted_type: 'LIST' });
      schema.push({ name: 'list', repetition_type: 'REPEATED', num_children: 1 });
      if (c.nested) {
        schema.push({ name: 'element', repetition_type: 'REQUIRED', num_children: 1, converted_type: 'LIST' });
        schema.push({ name: 'list', repetition_type: 'REPEATED', num_children: 1 });
      }
      schema.push(leaf('element', c.type, c.elementNullable ? 'OPTIONAL' : 'REQUIRED'));
    } else {
      schema.push(leaf(c.name, c.type, c.nullable ? 'OPTIONAL' : 'REQUIRED'));
    }
  }
  return schema;
}
