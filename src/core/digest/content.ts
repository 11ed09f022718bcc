/**
 * The digest's figures for one workspace and period, read from the database with a handful of
 * aggregate queries. The database returns sums and small grouped tables, never a row per vote,
 * so a busy week costs little JavaScript; the statistics themselves are the ones /stats uses
 * (src/core/labels/).
 *
 * What counts in a period [start, end):
 * - a vote, when it was first cast in it (a later change does not move it);
 * - an item closed, when its closing (`closed_at`) is in it; its label is the majority of its
 *   decisive votes, ties left out, as in /stats;
 * - analyses and the `fve_nrm` comparison, by when the analysis was requested.
 * Decoys are counted only in the decoy figures: they are confabulated by construction.
 */
import { sql } from 'drizzle-orm';
import { queryRows, type Db, type Queryable } from '../../../db';
import { krippendorffAlphaFromCounts } from '../labels/agreement';
import { auroc, wilsonInterval, type RateInterval } from '../labels/intervals';
import { SIGNAL_NAMES, type SignalName } from '../labels/signals';
import { trailingPeriods, type Period } from './period';

export const TREND_PERIODS = 8;
export const CONTESTED_ITEMS = 3;

export interface ContestedItem {
  explanationId: number;
  analysisId: number;
  text: string;
  faithful: number;
  confabulated: number;
  unsure: number;
  /** Where the analysis was requested: the platform's channel id, and the message reference when stored. */
  channel: string;
  messageRef: string | null;
}

export interface SignalFigure {
  name: SignalName;
  auroc: number | null;
  low: number | null;
  high: number | null;
  /** Items labelled in the period that have this signal. */
  n: number;
}

export interface Quartiles {
  median: number;
  q1: number;
  q3: number;
  n: number;
}

export interface Digest {
  workspaceId: number;
  period: Period;
  /** Nothing was requested, voted on or closed in the period. */
  empty: boolean;
  analyses: number;
  explanationsVoted: number;
  votes: number;
  reviewers: number;
  itemsClosed: number;
  confabulationRate: RateInterval | null;
  /** The last TREND_PERIODS periods, oldest first, ending with this one. */
  trend: Array<{ label: string; start: Date; end: Date; rate: RateInterval | null }>;
  alpha: number | null;
  /** Items with two or more decisive votes in the period (what alpha is computed over). */
  alphaItems: number;
  decoys: { votes: number; caught: number };
  contested: ContestedItem[];
  signals: SignalFigure[];
  fveNrm: { sae: Quartiles | null; nla: Quartiles | null };
  /** Dataset rows (one per real explanation) now, and how many are newer than `since`. */
  dataset: { rows: number; newRows: number; since: Date };
}

export interface DigestOptions {
  /** When the last digest went out; "new in the dataset" counts from here (default: the period's start). */
  since?: Date;
}

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const iso = (d: Date) => d.toISOString();

/**
 * Reads the digest in one transaction: one snapshot, so its figures agree with each other. (A
 * larger work_mem, to keep the vote grouping off temporary files, made it slower on PGlite.)
 */
export async function loadDigest(db: Queryable, workspaceId: number, period: Period, options: DigestOptions = {}): Promise<Digest> {
  return (db as Db).transaction((tx) => readDigest(tx, workspaceId, period, options));
}

async function readDigest(db: Queryable, workspaceId: number, period: Period, options: DigestOptions): Promise<Digest> {
  const start = iso(period.start);
  const end = iso(period.end);
  const inPeriod = (column: ReturnType<typeof sql.raw>) => sql`${column} >= ${start}::timestamptz and ${column} < ${end}::timestamptz`;

  // The period's votes are grouped per item on their own (one pass, no join), and only the
  // groups are joined to their explanations: per-vote joins were most of the digest's time. The
  // per-item rows are read several times, so they are materialised, and everything comes back as
  // one row. Active reviewers: one indexed probe per reviewer, stopping at their first vote in
  // the period and the workspace.
  const [row] = await queryRows<Record<string, unknown>>(db, sql`
    with per_item as materialized (
      select v.explanation_id, e.source, v.n, v.f, v.c
      from (
        select explanation_id, count(*)::int as n,
          (count(*) filter (where label = 'faithful'))::int as f,
          (count(*) filter (where label = 'confabulated'))::int as c
        from votes where ${inPeriod(sql.raw('created_at'))}
        group by explanation_id
      ) v join explanations e on e.id = v.explanation_id
      where e.workspace_id = ${workspaceId}
    )
    select
      (select count(*) from analyses where workspace_id = ${workspaceId} and ${inPeriod(sql.raw('created_at'))})::int as analyses,
      (select count(*) from reviewers r cross join lateral (
         select 1 from votes v join explanations e on e.id = v.explanation_id
         where v.reviewer_id = r.id and ${inPeriod(sql.raw('v.created_at'))} and e.workspace_id = ${workspaceId}
         limit 1) seen)::int as reviewers,
      (select count(*) from per_item where source = 'nla')::int as explanations_voted,
      (select coalesce(sum(n), 0) from per_item)::int as votes,
      (select coalesce(sum(f + c), 0) from per_item where source = 'decoy')::int as decoy_votes,
      (select coalesce(sum(c), 0) from per_item where source = 'decoy')::int as decoys_caught,
      x.items_closed, x.dataset_rows, x.dataset_new,
      (select coalesce(json_agg(s), '[]'::json) from (
         select f, c, count(*)::int as items from per_item where source = 'nla' and f + c >= 2 group by f, c) s) as splits,
      (select coalesce(json_agg(t), '[]'::json) from (
         select e.id, e.analysis_id, e.text, e.faithful_votes, e.confabulated_votes, e.unsure_votes, ch.external_id as channel, a.message_ref
         from per_item p
         join explanations e on e.id = p.explanation_id
         join analyses a on a.id = e.analysis_id
         join channels ch on ch.id = a.channel_id
         where p.source = 'nla' and e.faithful_votes > 0 and e.confabulated_votes > 0
         -- The closest split of all their decisive votes (not only this period's), then the most votes.
         order by least(e.faithful_votes, e.confabulated_votes)::float8 / (e.faithful_votes + e.confabulated_votes) desc,
           e.faithful_votes + e.confabulated_votes desc, e.id
         limit ${CONTESTED_ITEMS}) t) as contested
    from (
      select
        (count(*) filter (where state = 'closed' and ${inPeriod(sql.raw('closed_at'))}))::int as items_closed,
        count(*)::int as dataset_rows,
        (count(*) filter (where created_at >= ${iso(options.since ?? period.start)}::timestamptz))::int as dataset_new
      from explanations where workspace_id = ${workspaceId} and source = 'nla'
    ) x
  `);
  const counts = row;
  const json = <T>(v: unknown): T => (typeof v === 'string' ? JSON.parse(v) : v) as T;

  // Agreement: items grouped by their (faithful, confabulated) split, expanded in JavaScript into
  // the per-item counts Krippendorff's alpha reads. A week has few distinct splits.
  const splits = json<Array<{ f: number; c: number; items: number }>>(row.splits);
  const itemsWithPairs = splits.reduce((n, s) => n + num(s.items), 0);
  const counts2 = new Int32Array(itemsWithPairs * 2);
  let at = 0;
  for (const s of splits) {
    for (let i = 0; i < num(s.items); i++, at += 2) {
      counts2[at] = num(s.f);
      counts2[at + 1] = num(s.c);
    }
  }
  const alpha = krippendorffAlphaFromCounts(counts2, 2);
  const contestedRows = json<Array<Record<string, unknown>>>(row.contested);

  const trendPeriods = trailingPeriods(period, TREND_PERIODS);
  const trend = await loadTrend(db, workspaceId, trendPeriods);
  const rate = trend[trend.length - 1].rate;

  return {
    workspaceId,
    period,
    empty: num(counts.analyses) === 0 && num(counts.votes) === 0 && num(counts.items_closed) === 0,
    analyses: num(counts.analyses),
    explanationsVoted: num(counts.explanations_voted),
    votes: num(counts.votes),
    reviewers: num(counts.reviewers),
    itemsClosed: num(counts.items_closed),
    confabulationRate: rate,
    trend,
    alpha: alpha.alpha,
    alphaItems: alpha.pairableItems,
    decoys: { votes: num(counts.decoy_votes), caught: num(counts.decoys_caught) },
    contested: contestedRows.map((r) => ({
      explanationId: num(r.id),
      analysisId: num(r.analysis_id),
      text: String(r.text),
      faithful: num(r.faithful_votes),
      confabulated: num(r.confabulated_votes),
      unsure: num(r.unsure_votes),
      channel: String(r.channel),
      messageRef: r.message_ref === null || r.message_ref === undefined ? null : String(r.message_ref),
    })),
    signals: await loadSignals(db, workspaceId, start, end),
    fveNrm: await loadFveNrm(db, workspaceId, start, end),
    dataset: { rows: num(counts.dataset_rows), newRows: num(counts.dataset_new), since: options.since ?? period.start },
  };
}

/** The confabulation rate of the items closed in each period, with its Wilson interval. */
async function loadTrend(db: Queryable, workspaceId: number, periods: Period[]): Promise<Digest['trend']> {
  // Consecutive periods: their starts and the last end bound the buckets of width_bucket().
  const bounds = [...periods.map((p) => iso(p.start)), iso(periods[periods.length - 1].end)];
  const thresholds = sql`array[${sql.join(bounds.map((b) => sql`${b}::timestamptz`), sql`, `)}]`;
  const rows = await queryRows<{ i: number; decided: number; confabulated: number }>(db, sql`
    select width_bucket(closed_at, ${thresholds}) - 1 as i,
      (count(*) filter (where faithful_votes <> confabulated_votes))::int as decided,
      (count(*) filter (where confabulated_votes > faithful_votes))::int as confabulated
    from explanations
    where workspace_id = ${workspaceId} and source = 'nla' and state = 'closed'
      and closed_at >= ${bounds[0]}::timestamptz and closed_at < ${bounds[bounds.length - 1]}::timestamptz
    group by 1`);
  return periods.map((p, i) => {
    const row = rows.find((r) => num(r.i) === i);
    return { label: p.label, start: p.start, end: p.end, rate: row ? wilsonInterval(num(row.confabulated), num(row.decided)) : null };
  });
}

/** The SQL reading one signal's faithfulness score from the `closed` rows, as signalValue() reads it. */
function signalSql(name: SignalName) {
  if (name === 'ar_fve_nrm') return sql`ar_fve_nrm`;
  const key = sql.raw(`'${name}'`);
  return sql`case when jsonb_typeof(signals -> ${key} -> 'score') = 'number' then (signals -> ${key} -> 'score')::float8 end`;
}

/**
 * Each signal's AUROC against the labels of the items closed in the period. The closed items are
 * read once; the database groups equal scores, so ties come back as one row with a count. The
 * AUROC and its Hanley–McNeil interval are the ones /stats computes.
 */
async function loadSignals(db: Queryable, workspaceId: number, start: string, end: string): Promise<SignalFigure[]> {
  // The scores are read out of `signals` once, into a small in-memory table (the jsonb itself
  // would spill to disk), and grouped for all signals in one pass.
  const scores = sql.join(SIGNAL_NAMES.map((name, i) => sql`(${i}::int, ${signalSql(name)})`), sql`, `);
  const rows = await queryRows<{ signal: number; score: number; faithful: boolean; items: number }>(db, sql`
    select s.signal, s.score, e.faithful_votes > e.confabulated_votes as faithful, count(*)::int as items
    from explanations e cross join lateral (values ${scores}) as s(signal, score)
    where e.workspace_id = ${workspaceId} and e.source = 'nla' and e.state = 'closed'
      and e.closed_at >= ${start}::timestamptz and e.closed_at < ${end}::timestamptz
      and e.faithful_votes <> e.confabulated_votes
      and s.score is not null and s.score not in ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8)
    group by 1, 2, 3`);
  return SIGNAL_NAMES.map((name, index) => {
    const mine = rows.filter((r) => num(r.signal) === index);
    const n = mine.reduce((total, r) => total + num(r.items), 0);
    const scores = new Float64Array(n);
    const faithful = new Uint8Array(n);
    let i = 0;
    for (const r of mine) {
      for (let k = 0; k < num(r.items); k++, i++) {
        scores[i] = Number(r.score);
        faithful[i] = r.faithful === true || String(r.faithful) === 'true' ? 1 : 0;
      }
    }
    const result = auroc(scores, faithful);
    return { name, auroc: result?.auroc ?? null, low: result?.low ?? null, high: result?.high ?? null, n };
  });
}

/** Median and quartiles of the SAE's and the NLA's fve_nrm over the period's analyses. */
async function loadFveNrm(db: Queryable, workspaceId: number, start: string, end: string): Promise<Digest['fveNrm']> {
  const quartiles = (row: Record<string, unknown>): Quartiles | null => {
    const q = row.q as number[] | string | null;
    if (!q || num(row.n) === 0) return null;
    const values = Array.isArray(q) ? q.map(Number) : String(q).replace(/[{}]/g, '').split(',').map(Number);
    return { q1: values[0], median: values[1], q3: values[2], n: num(row.n) };
  };
  const [sae] = await queryRows<Record<string, unknown>>(db, sql`
    select count(*)::int as n, percentile_cont(array[0.25, 0.5, 0.75]::float8[]) within group (order by p.fve_nrm) as q
    from positions p join analyses a on a.id = p.analysis_id
    where a.workspace_id = ${workspaceId} and a.created_at >= ${start}::timestamptz and a.created_at < ${end}::timestamptz`);
  const [nla] = await queryRows<Record<string, unknown>>(db, sql`
    select count(*)::int as n, percentile_cont(array[0.25, 0.5, 0.75]::float8[]) within group (order by e.ar_fve_nrm) as q
    from explanations e join analyses a on a.id = e.analysis_id
    where a.workspace_id = ${workspaceId} and e.source = 'nla' and e.ar_fve_nrm is not null
      and a.created_at >= ${start}::timestamptz and a.created_at < ${end}::timestamptz`);
  return { sae: quartiles(sae), nla: quartiles(nla) };
}
