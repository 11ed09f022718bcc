/**
 * `confab dataset export`: one row per (non-decoy) explanation, streamed to JSONL or Parquet,
 * with a dataset card (README.md) beside it.
 *
 * Two passes, both keyset-paginated through the db module:
 *  1. labels — every current vote, as integers, into majority / Dawid–Skene / agreement
 *     (`computeDatasetLabels`); a million votes are ~12 MB of typed arrays;
 *  2. rows — explanations in id order, `chunkRows` at a time, each chunk joined with its SAE
 *     features, votes (pseudonymous reviewer ids only) and optionally activations, then written.
 * Memory is bounded by one chunk plus one Parquet row group, whatever the dataset size.
 *
 * The file is written to `<out>.partial` and renamed when complete, so a crash never leaves a
 * truncated file under the real name.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Queryable } from '../../../db';
import { signalValue } from '../labels/signals';
import { columnsFor, type DatasetRow } from './columns';
import { computeDatasetLabels, type DatasetLabels } from './labels';
import {
  activationsOfPositions,
  explanationPage,
  featuresOfPositions,
  LABEL_CODES,
  reviewerPseudonyms,
  votesOfExplanationRange,
  type ExportScope,
} from './queries';

const LABEL_NAMES = ['faithful', 'confabulated', 'unsure'] as const;
const NO_FEATURES = { indices: [], activations: [], labels: [] };
import { JsonlSink, ParquetSink, type RowSink } from './sinks';
import { promptHash, splitOfHash, type Split } from './split';
import { datasetCard } from './card';
import { collectGarbage } from './reclaim';

/** Rows between full garbage collections (see reclaim.ts); measured in BENCHMARKS.md "Dataset". */
const ROWS_PER_COLLECTION = 10_000;

export type DatasetFormat = 'jsonl' | 'parquet';

export interface ExportOptions extends ExportScope {
  format: DatasetFormat;
  /** The data file to write; README.md is written in the same directory. */
  out: string;
  /** Only explanations with at least this many decisive votes. Default 0 (all). */
  minVotes?: number;
  includeActivations?: boolean;
  /** Only explanations stored at or after this instant. Labels still use every vote. */
  since?: Date;
  /** Explanations per database round trip. Default 2000. */
  chunkRows?: number;
  /**
   * Parquet rows per row group. Default 5,000, or 1,000 with activations: hyparquet-writer
   * encodes a whole row group in memory, and 1,000 activations of d = 4096 are already 16 MB
   * as float32 (and several times that as JS numbers while encoding).
   */
  rowGroupRows?: number;
  /** Clock for the card (tests). */
  now?: Date;
}

export interface ExportSummary {
  path: string;
  cardPath: string;
  format: DatasetFormat;
  rows: number;
  /** Votes (all labels, including unsure) in the exported rows. */
  votes: number;
  /** Explanations skipped because they had fewer than minVotes decisive votes. */
  belowMinVotes: number;
  splits: Record<Split, number>;
  majority: Record<'faithful' | 'confabulated' | 'undecided', number>;
  dawidSkene: Record<'faithful' | 'confabulated' | 'undecided', number>;
  models: Array<{ model: string | null; layer: number | null; rows: number }>;
  reviewersInRows: number;
  labels: DatasetLabels;
  seconds: number;
}

export class DatasetExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetExportError';
  }
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function decodeActivation(bytes: Uint8Array): Float32Array {
  // Little-endian float32, as stored by the dispatcher; copy so the view is aligned.
  if (LITTLE_ENDIAN_HOST) return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + (bytes.byteLength & ~3)));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.byteLength >>> 2);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

export async function exportDataset(db: Queryable, options: ExportOptions): Promise<ExportSummary> {
  const started = performance.now();
  if (options.format !== 'jsonl' && options.format !== 'parquet') {
    throw new DatasetExportError(`Format "${options.format}" is not supported; use jsonl or parquet.`);
  }
  const minVotes = options.minVotes ?? 0;
  if (!Number.isInteger(minVotes) || minVotes < 0) throw new DatasetExportError(`--min-votes must be a whole number ≥ 0; got ${minVotes}.`);
  if (options.since && Number.isNaN(options.since.getTime())) throw new DatasetExportError('--since is not a valid date; use YYYY-MM-DD or an ISO 8601 time.');
  const chunkRows = options.chunkRows ?? 2000;
  const includeActivations = options.includeActivations ?? false;
  const columns = columnsFor(includeActivations);
  const out = path.resolve(options.out);
  const dir = path.dirname(out);
  await mkdir(dir, { recursive: true });
  const partial = `${out}.partial`;

  const labels = await computeDatasetLabels(db, { workspaceId: options.workspaceId });
  const pseudonyms = await reviewerPseudonyms(db);
  // The vote table and its key maps (~20 MB for a million votes) are garbage now.
  collectGarbage();

  const sink: RowSink =
    options.format === 'jsonl'
      ? new JsonlSink(partial, columns)
      : new ParquetSink(partial, columns, options.rowGroupRows ?? (includeActivations ? 1_000 : 5_000), [{ key: 'confab.dataset', value: 'one row per NLA explanation; see README.md' }]);

  const summary: Omit<ExportSummary, 'seconds' | 'path' | 'cardPath' | 'format' | 'labels' | 'models' | 'reviewersInRows'> = {
    rows: 0,
    votes: 0,
    belowMinVotes: 0,
    splits: { train: 0, validation: 0, test: 0 },
    majority: { faithful: 0, confabulated: 0, undecided: 0 },
    dawidSkene: { faithful: 0, confabulated: 0, undecided: 0 },
  };
  const models = new Map<string, { model: string | null; layer: number | null; rows: number }>();
  const reviewersSeen = new Set<string>();
  // Split per analysis: every explanation of one analysis shares the prompt, so hash it once.
  // Explanations come in id order, so an analysis's explanations are near each other: a small
  // cache finds them (a large one only held 50k hashes live for the whole export).
  let hashCache = new Map<number, { hash: string; split: Split }>();

  try {
    let after = 0;
    let sinceCollection = 0;
    for (;;) {
      const page = await explanationPage(db, { workspaceId: options.workspaceId, since: options.since }, after, chunkRows);
      if (page.length === 0) break;
      after = page[page.length - 1].id;
      const kept = page.filter((e) => {
        const ok = labels.of(e.id).decisiveVotes >= minVotes;
        if (!ok) summary.belowMinVotes++;
        return ok;
      });
      if (kept.length > 0) {
        const positionIds = [...new Set(kept.map((e) => e.positionId))];
        const [features, voteRows, vectors] = await Promise.all([
          featuresOfPositions(db, positionIds),
          votesOfExplanationRange(db, kept[0].id, kept[kept.length - 1].id),
          includeActivations ? activationsOfPositions(db, positionIds) : Promise.resolve([]),
        ]);
        // voteRows are ordered by explanation id, as `kept` is: walk both together.
        let vote = 0;
        const vectorByPosition = new Map(vectors.map((a) => [a.positionId, decodeActivation(a.vector)]));
        if (hashCache.size > 1_000) hashCache = new Map();

        const rows: DatasetRow[] = [];
        for (const e of kept) {
          let h = hashCache.get(e.analysisId);
          if (!h) {
            const hash = promptHash(e.prompt);
            h = { hash, split: splitOfHash(hash) };
            hashCache.set(e.analysisId, h);
          }
          const f = features.get(e.positionId) ?? NO_FEATURES;
          while (vote < voteRows.count && voteRows.explanationId[vote] < e.id) vote++;
          const firstVote = vote;
          while (vote < voteRows.count && voteRows.explanationId[vote] === e.id) vote++;
          // This explanation's votes in the order they were cast (reviewer order for ties).
          const order: number[] = [];
          for (let k = firstVote; k < vote; k++) order.push(k);
          if (order.length > 1) order.sort((a, b) => voteRows.votedAt[a] - voteRows.votedAt[b] || a - b);
          const l = labels.of(e.id);
          let unsure = 0;
          const voteLabels: string[] = [];
          const reviewerIds: string[] = [];
          // Epoch ms, not Date: a million Date objects were pure churn, as Parquet stores the number.
          const votedAt: number[] = [];
          for (const k of order) {
            const code = voteRows.label[k];
            if (code === LABEL_CODES.unsure) unsure++;
            voteLabels.push(LABEL_NAMES[code]);
            const pseudonym = pseudonyms.get(voteRows.reviewerId[k]);
            if (pseudonym === undefined) throw new DatasetExportError(`Vote on explanation ${e.id} names reviewer ${voteRows.reviewerId[k]}, who is not in the reviewers table.`);
            reviewerIds.push(pseudonym);
            reviewersSeen.add(pseudonym);
            votedAt.push(voteRows.votedAt[k]);
          }
          rows.push({
            explanation_id: e.id,
            analysis_id: e.analysisId,
            position_id: e.positionId,
            sample: e.sample,
            model: e.model,
            layer: e.layer,
            prompt: e.prompt,
            prompt_sha256: h.hash,
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
            majority_label: l.majority,
            ds_label: l.dsLabel,
            ds_posterior: l.dsPosterior,
            ds_p_confabulated: l.pConfabulated,
            decisive_votes: l.decisiveVotes,
            unsure_votes: unsure,
            item_agreement: l.agreement,
            state: e.state,
            split: h.split,
            created_at: e.createdAt,
            ...(includeActivations ? { activation: vectorByPosition.get(e.positionId) ?? null } : {}),
          });
          summary.rows++;
          summary.votes += order.length;
          summary.splits[h.split]++;
          summary.majority[l.majority ?? 'undecided']++;
          summary.dawidSkene[l.dsLabel ?? 'undecided']++;
          const modelKey = `${e.model}\u0000${e.layer}`;
          const m = models.get(modelKey);
          if (m) m.rows++;
          else models.set(modelKey, { model: e.model, layer: e.layer, rows: 1 });
        }
        await sink.write(rows);
        sinceCollection += rows.length;
        if (sinceCollection >= ROWS_PER_COLLECTION) {
          collectGarbage();
          sinceCollection = 0;
        }
      }
      if (page.length < chunkRows) break;
    }
    await sink.close();
    await rename(partial, out);
  } catch (error) {
    await sink.close().catch(() => {});
    await rm(partial, { force: true });
    throw error;
  }

  const cardPath = path.join(dir, 'README.md');
  const result: ExportSummary = {
    ...summary,
    path: out,
    cardPath,
    format: options.format,
    labels,
    models: [...models.values()],
    reviewersInRows: reviewersSeen.size,
    seconds: (performance.now() - started) / 1000,
  };
  await writeFile(
    cardPath,
    datasetCard(result, { minVotes, since: options.since, includeActivations, columns, now: options.now ?? new Date(), file: path.basename(out) }),
    'utf8',
  );
  return result;
}
