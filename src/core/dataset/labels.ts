/**
 * The label pass of an export: every current vote is read once (keyset pages of integers only)
 * into a VoteTable, then majority, Dawid–Skene and agreement are computed for all items.
 *
 * Decoys: a decoy explanation is an item whose true class is known (confabulated). Its votes
 * enter Dawid–Skene only as calibration — a known item keeps its class, so it teaches EM each
 * reviewer's confusion matrix — and never become a label: decoys are not rows of the dataset,
 * are left out of the class prior, and are left out of the agreement coefficients.
 */
import type { Queryable } from '../../../db';
import { krippendorffAlphaFromCounts, fleissKappaFromCounts, type AlphaResult, type KappaResult } from '../labels/agreement';
import { dawidSkene } from '../labels/dawid-skene';
import { wilsonInterval, type RateInterval } from '../labels/intervals';
import { majorityVote, UNDECIDED } from '../labels/majority';
import { VoteTableBuilder } from '../labels/vote-table';
import { decoyExplanationIds, voteLabelPage, type ExportScope } from './queries';

export const DATASET_CLASSES = ['faithful', 'confabulated'] as const;
export type DatasetLabel = (typeof DATASET_CLASSES)[number];
const CONFABULATED = 1;

export interface ItemLabels {
  majority: DatasetLabel | null;
  dsLabel: DatasetLabel | null;
  /** Posterior of `dsLabel`. */
  dsPosterior: number | null;
  /** Posterior probability that the explanation is confabulated. */
  pConfabulated: number | null;
  decisiveVotes: number;
  /** Share of decisive votes agreeing with the most common label. */
  agreement: number | null;
}

export interface DatasetLabels {
  /** Labels of a real (non-decoy) explanation; an explanation without votes gets the empty labels. */
  of(explanationId: number): ItemLabels;
  /** Distinct reviewers with at least one decisive vote (decoys included). */
  reviewers: number;
  decisiveVotes: number;
  alpha: AlphaResult;
  kappa: KappaResult;
  /** Share of decisive decoy votes that said "confabulated" (the crowd's catch rate). */
  decoyCatchRate: RateInterval | null;
  dsIterations: number;
  dsConverged: boolean;
}

const EMPTY: ItemLabels = { majority: null, dsLabel: null, dsPosterior: null, pConfabulated: null, decisiveVotes: 0, agreement: null };

export interface LabelPassOptions {
  pageSize?: number;
  /** A full garbage collection between the pass's waves of garbage (see ExportOptions). */
  collectGarbage?: () => void;
}

export async function computeDatasetLabels(db: Queryable, scope: ExportScope, options: LabelPassOptions = {}): Promise<DatasetLabels> {
  const pageSize = options.pageSize ?? 100_000;
  const collectGarbage = options.collectGarbage ?? (() => {});
  const builder = new VoteTableBuilder({ classes: DATASET_CLASSES });
  const decoys = new Set(await decoyExplanationIds(db, scope));
  const labelOfCode = ['faithful', 'confabulated', 'unsure'];
  let after = 0;
  for (;;) {
    const page = await voteLabelPage(db, scope, after, pageSize);
    for (let v = 0; v < page.count; v++) builder.add(page.explanationId[v], page.reviewerId[v], labelOfCode[page.label[v]]);
    if (page.count < pageSize) break;
    after = page.lastId;
  }
  const table = builder.build();
  // The pass leaves its garbage in two large waves (the vote pages with the table's smaller
  // copies from growing, then Dawid–Skene's working arrays), freed before the next wave is
  // allocated rather than piled on it: memory a wave held stays with the process.
  collectGarbage();
  const nItems = table.itemKeys.length;
  const K = DATASET_CLASSES.length;
  const known = new Int32Array(nItems).fill(-1);
  const itemOf = itemIndex(table.itemKeys as number[]);
  for (let i = 0; i < nItems; i++) {
    if (decoys.has(table.itemKeys[i] as number)) known[i] = CONFABULATED;
  }
  const majority = majorityVote(table);
  const ds = dawidSkene(table, { known });
  collectGarbage();

  // Agreement over real items only.
  const realCounts = new Int32Array(majority.counts);
  let decoyVotes = 0;
  let decoyCaught = 0;
  for (let i = 0; i < nItems; i++) {
    if (known[i] < 0) continue;
    decoyVotes += majority.decisiveVotes[i];
    decoyCaught += majority.counts[i * K + CONFABULATED];
    for (let k = 0; k < K; k++) realCounts[i * K + k] = 0;
  }

  const label = (code: number): DatasetLabel | null => (code === UNDECIDED ? null : DATASET_CLASSES[code]);
  return {
    of(explanationId) {
      const i = itemOf(explanationId);
      if (i < 0 || known[i] >= 0) return EMPTY;
      const decisive = majority.decisiveVotes[i];
      return {
        majority: label(majority.label[i]),
        dsLabel: label(ds.label[i]),
        dsPosterior: ds.label[i] === UNDECIDED ? null : ds.confidence[i],
        pConfabulated: decisive === 0 ? null : ds.posterior[i * K + CONFABULATED],
        decisiveVotes: decisive,
        agreement: decisive === 0 ? null : majority.agreement[i],
      };
    },
    reviewers: table.reviewerKeys.length,
    decisiveVotes: table.length,
    alpha: krippendorffAlphaFromCounts(realCounts, K),
    kappa: fleissKappaFromCounts(realCounts, K),
    decoyCatchRate: wilsonInterval(decoyCaught, decoyVotes),
    dsIterations: ds.iterations,
    dsConverged: ds.converged,
  };
}

/**
 * Item index of an explanation id, or -1. Explanation ids are nearly dense, so an Int32Array
 * indexed by id is the usual form: it stays live for the whole export, where a Map would cost
 * several times its memory. Sparse ids fall back to a Map.
 */
export function itemIndex(keys: number[]): (id: number) => number {
  let max = 0;
  for (const id of keys) if (id > max) max = id;
  if (max <= 4 * keys.length + 1024) {
    const index = new Int32Array(max + 1).fill(-1);
    keys.forEach((id, i) => (index[id] = i));
    return (id) => (Number.isInteger(id) && id >= 0 && id <= max ? index[id] : -1);
  }
  const map = new Map<number, number>(keys.map((id, i) => [id, i]));
  return (id) => map.get(id) ?? -1;
}
