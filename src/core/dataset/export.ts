/**
 * `confab dataset export`: one row per (non-decoy) explanation, streamed to JSONL or Parquet,
 * with a dataset card named after the data file (`d.jsonl` -> `d.card.md`).
 *
 * Everything is read in one read-only REPEATABLE READ transaction, so the labels, the votes
 * listed in each row and the reviewers they name all come from one snapshot, whatever is voted
 * while the export runs. Two passes, both keyset-paginated through the db module:
 *  1. labels: every current vote, as integers, into majority / Dawid–Skene / agreement
 *     (`computeDatasetLabels`);
 *  2. rows: explanations in id order, `chunkRows` at a time, each chunk joined with its SAE
 *     features, votes and optionally activations, then written.
 * Memory is bounded by one chunk plus one Parquet row group, whatever the dataset size.
 *
 * The file is written to `<out>.partial` and moved to its name when complete, so a crash never
 * leaves a truncated file under the real name. An existing data file or card is replaced only
 * with `overwrite`.
 */
import { access, link, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Db, Queryable } from '../../../db';
import { datasetCard } from './card';
import { columnsFor, type DatasetRow } from './columns';
import { computeDatasetLabels } from './labels';
import { activationsOfPositions, explanationPage, featuresOfPositions, reviewerPseudonyms, votesOfExplanationRange, type ExportScope } from './queries';
import { buildRow } from './rows';
import { JsonlSink, ParquetSink, type RowSink } from './sinks';
import { promptHash, splitOfHash, type Split } from './split';
import { DatasetExportError, type DatasetFormat, type ExportSummary } from './summary';

export { DatasetExportError, type DatasetFormat, type ExportSummary } from './summary';

/** Rows between calls of `collectGarbage`. */
const ROWS_PER_COLLECTION = 10_000;
const NO_FEATURES = { indices: [], activations: [], labels: [] };

export interface ExportOptions extends ExportScope {
  format: DatasetFormat;
  /** The data file to write; the card is written beside it as `<name>.card.md`. */
  out: string;
  /** Replace an existing data file or card. Without it, an existing file stops the export. */
  overwrite?: boolean;
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
  /**
   * A full garbage collection, called between the export's waves of garbage. A one-shot
   * process that exposes V8's `gc` passes it, so the heap stays near its live size; V8 otherwise
   * sizes its next collection on the allocation rate and lets the garbage pile up.
   */
  collectGarbage?: () => void;
  /** Clock for the card (tests). */
  now?: Date;
}

/** The card's path for a data file: its name without the extension, then `.card.md`. */
export function cardPathFor(out: string): string {
  const resolved = path.resolve(out);
  const ext = path.extname(resolved);
  return `${ext ? resolved.slice(0, -ext.length) : resolved}.card.md`;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

function alreadyThere(file: string): DatasetExportError {
  return new DatasetExportError(`${file} already exists; choose another --out, or pass --force to replace it.`);
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

export async function exportDataset(db: Db, options: ExportOptions): Promise<ExportSummary> {
  const started = performance.now();
  if (options.format !== 'jsonl' && options.format !== 'parquet') {
    throw new DatasetExportError(`Format "${options.format}" is not supported; use jsonl or parquet.`);
  }
  const minVotes = options.minVotes ?? 0;
  if (!Number.isInteger(minVotes) || minVotes < 0) throw new DatasetExportError(`--min-votes must be a whole number ≥ 0; got ${minVotes}.`);
  if (options.since && Number.isNaN(options.since.getTime())) throw new DatasetExportError('--since is not a valid date; use YYYY-MM-DD or an ISO 8601 time.');
  const out = path.resolve(options.out);
  const cardPath = cardPathFor(out);
  if (path.basename(out).toLowerCase() === 'readme.md') {
    throw new DatasetExportError(`--out ${out} is the name of a project README, not of a data file; use a name such as dataset.${options.format}.`);
  }
  const overwrite = options.overwrite ?? false;
  if (!overwrite) {
    for (const file of [out, cardPath]) if (await exists(file)) throw alreadyThere(file);
  }
  await mkdir(path.dirname(out), { recursive: true });

  const written = await db.transaction((tx) => writeRows(tx, options, out, minVotes), { isolationLevel: 'repeatable read', accessMode: 'read only' });

  if (overwrite) await rename(written.partial, out);
  else {
    // link() refuses an existing name, so a file that appeared meanwhile is not replaced either.
    try {
      await link(written.partial, out);
    } catch (e) {
      await rm(written.partial, { force: true });
      throw (e as NodeJS.ErrnoException).code === 'EEXIST' ? alreadyThere(out) : e;
    }
    await rm(written.partial, { force: true });
  }
  const result: ExportSummary = { ...written.summary, path: out, cardPath, format: options.format, seconds: (performance.now() - started) / 1000 };
  const card = datasetCard(result, {
    minVotes,
    since: options.since,
    includeActivations: options.includeActivations ?? false,
    columns: columnsFor(options.includeActivations ?? false),
    now: options.now ?? new Date(),
    file: path.basename(out),
  });
  try {
    await writeFile(cardPath, card, { encoding: 'utf8', flag: overwrite ? 'w' : 'wx' });
  } catch (e) {
    throw (e as NodeJS.ErrnoException).code === 'EEXIST' ? alreadyThere(cardPath) : e;
  }
  return result;
}

type WrittenSummary = Omit<ExportSummary, 'seconds' | 'path' | 'cardPath' | 'format'>;

async function writeRows(db: Queryable, options: ExportOptions, out: string, minVotes: number): Promise<{ partial: string; summary: WrittenSummary }> {
  const collectGarbage = options.collectGarbage ?? (() => {});
  const chunkRows = options.chunkRows ?? 2000;
  const includeActivations = options.includeActivations ?? false;
  const columns = columnsFor(includeActivations);
  const partial = `${out}.partial`;

  const labels = await computeDatasetLabels(db, { workspaceId: options.workspaceId }, { collectGarbage });
  const pseudonyms = await reviewerPseudonyms(db);
  // The vote table and its key maps are garbage now.
  collectGarbage();

  const sink: RowSink =
    options.format === 'jsonl'
      ? new JsonlSink(partial, columns)
      : new ParquetSink(partial, columns, options.rowGroupRows ?? (includeActivations ? 1_000 : 5_000), [
          { key: 'confab.dataset', value: `one row per NLA explanation; see ${path.basename(cardPathFor(out))}` },
        ]);

  const summary: WrittenSummary = {
    rows: 0,
    votes: 0,
    votesWithNote: 0,
    votesWithMarkedClaims: 0,
    belowMinVotes: 0,
    splits: { train: 0, validation: 0, test: 0 },
    majority: { faithful: 0, confabulated: 0, undecided: 0 },
    dawidSkene: { faithful: 0, confabulated: 0, undecided: 0 },
    models: [],
    reviewersInRows: 0,
    labels,
  };
  const models = new Map<string, { model: string | null; layer: number | null; rows: number }>();
  const reviewersSeen = new Set<string>();
  // Split per analysis: every explanation of one analysis shares the prompt, so hash it once.
  // Explanations come in id order, so an analysis's explanations are near each other and a
  // small cache finds them without holding every hash for the whole export.
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
        const vectorByPosition = new Map(vectors.map((a) => [a.positionId, decodeActivation(a.vector)]));
        if (hashCache.size > 1_000) hashCache = new Map();

        const rows: DatasetRow[] = [];
        // voteRows are ordered by explanation id, as `kept` is: walk both together.
        let vote = 0;
        for (const e of kept) {
          let h = hashCache.get(e.analysisId);
          if (!h) {
            const hash = promptHash(e.prompt);
            h = { hash, split: splitOfHash(hash) };
            hashCache.set(e.analysisId, h);
          }
          while (vote < voteRows.count && voteRows.explanationId[vote] < e.id) vote++;
          const first = vote;
          while (vote < voteRows.count && voteRows.explanationId[vote] === e.id) vote++;
          const l = labels.of(e.id);
          const built = buildRow(
            e,
            features.get(e.positionId) ?? NO_FEATURES,
            { votes: voteRows, first, end: vote },
            l,
            h,
            pseudonyms,
            includeActivations ? (vectorByPosition.get(e.positionId) ?? null) : undefined,
          );
          rows.push(built.row);
          for (const id of built.row.reviewer_ids) reviewersSeen.add(id);
          summary.rows++;
          summary.votes += vote - first;
          summary.votesWithNote += built.withNote;
          summary.votesWithMarkedClaims += built.withMarks;
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
  } catch (error) {
    await sink.close().catch(() => {});
    await rm(partial, { force: true });
    throw error;
  }
  summary.models = [...models.values()];
  summary.reviewersInRows = reviewersSeen.size;
  return { partial, summary };
}
