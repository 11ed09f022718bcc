/**
 * One dataset row from what a page read: the explanation, its position's SAE features, its
 * current votes (pseudonymous reviewer ids only) with their notes and marked claims, and its
 * labels.
 */
import { splitClaims } from '../claims';
import { signalValue } from '../labels/signals';
import type { DatasetRow } from './columns';
import type { ItemLabels } from './labels';
import { LABEL_CODES, type ExplanationForExport, type PositionFeatures, type VoteRemarks, type VotesOfRange } from './queries';
import { DatasetExportError } from './summary';
import type { Split } from './split';

const LABEL_NAMES = ['faithful', 'confabulated', 'unsure'] as const;
const NO_REMARKS: VoteRemarks = { note: null, markedClaims: [] };

export interface RowVotes {
  votes: VotesOfRange;
  /** Index range [first, end) of this explanation's votes in `votes`. */
  first: number;
  end: number;
}

export interface BuiltRow {
  row: DatasetRow;
  withNote: number;
  withMarks: number;
}

export function buildRow(
  e: ExplanationForExport,
  f: PositionFeatures,
  { votes: v, first, end }: RowVotes,
  labels: ItemLabels,
  prompt: { hash: string; split: Split },
  pseudonyms: Map<number, string>,
  activation: Float32Array | null | undefined,
): BuiltRow {
  // This explanation's votes in the order they were cast (reviewer order for ties).
  const order: number[] = [];
  for (let k = first; k < end; k++) order.push(k);
  if (order.length > 1) order.sort((a, b) => v.votedAt[a] - v.votedAt[b] || a - b);
  const claims = splitClaims(e.text);
  const wrongCounts = new Array<number>(claims.length).fill(0);
  const remarksHere = v.remarks.get(e.id);
  let unsure = 0;
  let withNote = 0;
  let withMarks = 0;
  const voteLabels: string[] = [];
  const reviewerIds: string[] = [];
  // Epoch ms, not Date: Parquet stores the number, and a Date per vote is pure churn.
  const votedAt: number[] = [];
  const notes: Array<string | null> = [];
  const marked: number[][] = [];
  for (const k of order) {
    const code = v.label[k];
    if (code === LABEL_CODES.unsure) unsure++;
    voteLabels.push(LABEL_NAMES[code]);
    const pseudonym = pseudonyms.get(v.reviewerId[k]);
    if (pseudonym === undefined) throw new DatasetExportError(`Vote on explanation ${e.id} names reviewer ${v.reviewerId[k]}, who is not in the reviewers table.`);
    reviewerIds.push(pseudonym);
    votedAt.push(v.votedAt[k]);
    const r = remarksHere?.get(v.reviewerId[k]) ?? NO_REMARKS;
    notes.push(r.note);
    marked.push(r.markedClaims);
    if (r.note !== null) withNote++;
    if (r.markedClaims.length > 0) withMarks++;
    for (const index of r.markedClaims) if (index >= 1 && index <= claims.length) wrongCounts[index - 1]++;
  }
  const row: DatasetRow = {
    explanation_id: e.id,
    analysis_id: e.analysisId,
    position_id: e.positionId,
    sample: e.sample,
    model: e.model,
    layer: e.layer,
    prompt: e.prompt,
    prompt_sha256: prompt.hash,
    token: e.token,
    position: e.position,
    sae_feature_indices: f.indices,
    sae_feature_activations: f.activations,
    sae_feature_labels: f.labels,
    sae_l0: e.l0,
    sae_explained_variance: e.explainedVariance,
    sae_fve_nrm: e.fveNrm,
    explanation: e.text,
    explanation_parsed: e.parsed,
    source: e.source,
    ar_cosine: e.arCosine,
    ar_mse_nrm: e.arMseNrm,
    ar_fve_nrm: e.arFveNrm,
    signal_feature_overlap: signalValue('feature_overlap', e),
    signal_judge: signalValue('judge', e),
    votes: voteLabels,
    reviewer_ids: reviewerIds,
    vote_timestamps: votedAt,
    vote_notes: notes,
    vote_marked_claims: marked,
    claims,
    claim_wrong_counts: wrongCounts,
    majority_label: labels.majority,
    ds_label: labels.dsLabel,
    ds_posterior: labels.dsPosterior,
    ds_p_confabulated: labels.pConfabulated,
    decisive_votes: labels.decisiveVotes,
    unsure_votes: unsure,
    item_agreement: labels.agreement,
    state: e.state,
    split: prompt.split,
    created_at: e.createdAt,
  };
  if (activation !== undefined) row.activation = activation;
  return { row, withNote, withMarks };
}
