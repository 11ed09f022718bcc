/**
 * The reads the dataset export needs, all keyset-paginated (`id > after order by id limit n`)
 * so that memory stays bounded and no page costs more than the last: OFFSET pagination would
 * rescan every skipped row and make a million-row export quadratic.
 *
 * Only the reviewer's pseudonym is ever selected from `reviewers`; platform ids and display
 * names are not read, so they cannot leak into an export by mistake.
 */
import { and, eq, sql, type SQL } from 'drizzle-orm';
import type { Queryable } from '../../../db';
import { activations, analyses, explanations, positions, reviewers, saeFeatures, votes } from '../../../db/schema';

export interface ExportScope {
  /** Limit to one workspace (the channel `dataset` command); all workspaces when absent. */
  workspaceId?: number;
}

/** Label codes used by the compact vote transfer. */
export const LABEL_CODES = { faithful: 0, confabulated: 1, unsure: 2 } as const;

export interface VoteLabelPage {
  /** Number of votes in the page; fewer than asked means it was the last page. */
  count: number;
  /** Largest vote id in the page, the keyset for the next one. */
  lastId: number;
  explanationId: Int32Array;
  reviewerId: Int32Array;
  /** LABEL_CODES. */
  label: Uint8Array;
}

/**
 * One page of current votes, for the label pass. The page travels as ONE row holding a compact
 * text (`explanation,reviewer,label;…`): per-row protocol and object mapping in the driver cost
 * far more than the scan itself. The database still does the keyset scan over the primary key.
 */
export async function voteLabelPage(db: Queryable, scope: ExportScope, after: number, limit: number): Promise<VoteLabelPage> {
  const workspaceFilter =
    scope.workspaceId === undefined
      ? sql``
      : sql`and exists (select 1 from ${explanations} e where e.id = ${votes.explanationId} and e.workspace_id = ${scope.workspaceId})`;
  // Both drivers (PGlite, node-postgres) answer raw SQL with `{ rows }`.
  const result = (await db.execute(sql`
    select count(*)::int as count, coalesce(max(id), 0)::int as last_id,
      coalesce(string_agg(explanation_id || ',' || reviewer_id || ',' ||
        case label when 'faithful' then 0 when 'confabulated' then 1 else 2 end, ';' order by id), '') as packed
    from (select ${votes.id} as id, ${votes.explanationId} as explanation_id, ${votes.reviewerId} as reviewer_id, ${votes.label} as label
          from ${votes} where ${votes.id} > ${after} ${workspaceFilter} order by ${votes.id} limit ${limit}) page`)) as unknown as { rows: Array<{ count: number; last_id: number; packed: string }> };
  const row = result.rows[0];
  const count = Number(row.count);
  const explanationId = new Int32Array(count);
  const reviewerId = new Int32Array(count);
  const label = new Uint8Array(count);
  const packed = row.packed;
  // Hand-rolled parse: split() would allocate three strings per vote.
  let field = 0;
  let value = 0;
  let v = 0;
  for (let i = 0; i <= packed.length; i++) {
    const c = i < packed.length ? packed.charCodeAt(i) : 59; /* ';' */
    if (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48);
    } else if (c === 44 /* ',' */) {
      if (field === 0) explanationId[v] = value;
      else reviewerId[v] = value;
      field++;
      value = 0;
    } else if (c === 59 /* ';' */) {
      if (count > 0) label[v] = value;
      v++;
      field = 0;
      value = 0;
    }
  }
  return { count, lastId: Number(row.last_id), explanationId, reviewerId, label };
}

/** Ids of decoy explanations (a small share of all explanations). */
export async function decoyExplanationIds(db: Queryable, scope: ExportScope): Promise<number[]> {
  const where: SQL[] = [eq(explanations.source, 'decoy')];
  if (scope.workspaceId !== undefined) where.push(eq(explanations.workspaceId, scope.workspaceId));
  const rows = await db.select({ id: explanations.id }).from(explanations).where(and(...where));
  return rows.map((r) => r.id);
}

/** Reviewer id -> pseudonym, the only reviewer attribute an export may carry. */
export async function reviewerPseudonyms(db: Queryable): Promise<Map<number, string>> {
  const rows = await db.select({ id: reviewers.id, pseudonym: reviewers.pseudonym }).from(reviewers);
  return new Map(rows.map((r) => [r.id, r.pseudonym]));
}

export interface ExplanationForExport {
  id: number;
  analysisId: number;
  positionId: number;
  sample: number;
  source: string;
  text: string;
  parsed: boolean;
  arCosine: number | null;
  arMseNrm: number | null;
  arFveNrm: number | null;
  signals: Record<string, unknown>;
  state: string;
  /** Epoch milliseconds. */
  createdAt: number;
  model: string | null;
  layer: number | null;
  prompt: string;
  position: number;
  token: string;
  l0: number | null;
  explainedVariance: number;
  fveNrm: number;
}

/** Column order of one explanation in the packed page (see `explanationPage`). */
type PackedExplanation = [
  number, number, number, number, string, string, boolean, number | null, number | null, number | null,
  Record<string, unknown> | null, string, number, number, string, number, number, number,
];
/** Column order of one analysis in the packed page: id, model, layer, prompt. */
type PackedAnalysis = [number, string | null, number | null, string];

/**
 * One page of real (non-decoy) explanations with their position and analysis.
 *
 * The page travels as ONE json value (an array of arrays) rather than as rows: PGlite's
 * protocol parser copies every field of every DataRow into its own ArrayBuffer before decoding
 * it, where one JSON.parse of the page is native. (node-postgres gains too.)
 * The analyses travel beside it, once each rather than once per explanation (an analysis has
 * several, which share its prompt): they are read as the id range the page's analyses span,
 * which is nearly dense because an analysis's explanations are stored together.
 */
export async function explanationPage(
  db: Queryable,
  scope: ExportScope & { since?: Date },
  after: number,
  limit: number,
): Promise<ExplanationForExport[]> {
  const workspaceFilter = scope.workspaceId === undefined ? sql`` : sql`and e.workspace_id = ${scope.workspaceId}`;
  const analysisWorkspace = scope.workspaceId === undefined ? sql`` : sql`and a.workspace_id = ${scope.workspaceId}`;
  const sinceFilter = scope.since ? sql`and e.created_at >= ${scope.since.toISOString()}::timestamptz` : sql``;
  const result = (await db.execute(sql`
    with e as (select * from ${explanations} e where e.id > ${after} and e.source = 'nla' ${workspaceFilter} ${sinceFilter}
               order by e.id limit ${limit})
    select
      coalesce((select json_agg(json_build_array(e.id, e.analysis_id, e.position_id, e.sample, e.source, e.text, e.parsed,
          e.ar_cosine, e.ar_mse_nrm, e.ar_fve_nrm, e.signals, e.state, floor(extract(epoch from e.created_at) * 1000)::bigint,
          p.position, p.token, p.l0, p.explained_variance, p.fve_nrm) order by e.id)
        from e join ${positions} p on p.id = e.position_id), '[]') as page,
      coalesce((select json_agg(json_build_array(a.id, a.model, a.layer, a.prompt)) from ${analyses} a
        where a.id between (select min(analysis_id) from e) and (select max(analysis_id) from e) ${analysisWorkspace}), '[]') as analyses`)) as unknown as {
    rows: Array<{ page: PackedExplanation[] | string; analyses: PackedAnalysis[] | string }>;
  };
  const parse = <T>(raw: T[] | string): T[] => (typeof raw === 'string' ? JSON.parse(raw) : raw) as T[];
  const page = parse(result.rows[0].page);
  const analysisById = new Map(parse(result.rows[0].analyses).map((a) => [a[0], a]));
  return page.map((r) => {
    const a = analysisById.get(r[1]);
    if (!a) throw new Error(`Explanation ${r[0]} names analysis ${r[1]}, which the page did not read.`);
    return {
      id: r[0],
      analysisId: r[1],
      positionId: r[2],
      sample: r[3],
      source: r[4],
      text: r[5],
      parsed: r[6],
      arCosine: finiteOrNull(r[7]),
      arMseNrm: finiteOrNull(r[8]),
      arFveNrm: finiteOrNull(r[9]),
      signals: r[10] ?? {},
      state: r[11],
      createdAt: r[12],
      model: a[1],
      layer: a[2],
      prompt: a[3],
      position: r[13],
      token: r[14],
      l0: r[15],
      explainedVariance: Number(r[16]),
      fveNrm: Number(r[17]),
    };
  });
}

// PostgreSQL writes NaN and ±Infinity into json as strings.
function finiteOrNull(value: number | string | null): number | null {
  return value === null ? null : Number(value);
}

/** The SAE features of each position, strongest first, as parallel arrays. */
export interface PositionFeatures {
  indices: number[];
  activations: number[];
  labels: string[];
}

/**
 * The SAE features of some positions. Positions of consecutive explanations are nearly
 * consecutive, so a dense id set is read as one primary-key range (no sort, no large IN list)
 * and filtered here; a sparse set falls back to IN. Like the explanations, the features come
 * back as one json value (see `explanationPage`), in rank order (strongest first).
 */
export async function featuresOfPositions(db: Queryable, positionIds: number[]): Promise<Map<number, PositionFeatures>> {
  const out = new Map<number, PositionFeatures>();
  if (positionIds.length === 0) return out;
  let first = positionIds[0];
  let last = positionIds[0];
  for (const id of positionIds) {
    if (id < first) first = id;
    if (id > last) last = id;
  }
  const dense = last - first < 4 * positionIds.length;
  const where = dense
    ? sql`${saeFeatures.positionId} between ${first} and ${last}`
    : sql`${saeFeatures.positionId} in (select unnest(${`{${positionIds.join(',')}}`}::int[]))`;
  // No ORDER BY: the rows arrive in the order they are stored, which is rank order for features
  // written together, and are put in rank order here where they are not (cheaper than a sort
  // in the database).
  const result = (await db.execute(sql`
    select coalesce(json_agg(json_build_array(${saeFeatures.positionId}, ${saeFeatures.rank}, ${saeFeatures.featureIndex}, ${saeFeatures.activation}, ${saeFeatures.label})), '[]') as features
    from ${saeFeatures} where ${where}`)) as unknown as { rows: Array<{ features: Array<[number, number, number, number, string]> | string }> };
  const raw = result.rows[0].features;
  const rows = (typeof raw === 'string' ? JSON.parse(raw) : raw) as Array<[number, number, number, number, string]>;
  const wanted = dense ? new Set(positionIds) : null;
  const ranks = new Map<number, number[]>();
  const unsorted = new Set<number>();
  for (const [positionId, rank, featureIndex, activation, label] of rows) {
    if (wanted && !wanted.has(positionId)) continue;
    let f = out.get(positionId);
    if (!f) {
      out.set(positionId, (f = { indices: [], activations: [], labels: [] }));
      ranks.set(positionId, []);
    }
    const r = ranks.get(positionId)!;
    if (r.length > 0 && rank < r[r.length - 1]) unsorted.add(positionId);
    r.push(rank);
    f.indices.push(featureIndex);
    f.activations.push(Number(activation));
    f.labels.push(label);
  }
  for (const positionId of unsorted) {
    const f = out.get(positionId)!;
    const r = ranks.get(positionId)!;
    const order = r.map((_, i) => i).sort((a, b) => r[a] - r[b]);
    out.set(positionId, { indices: order.map((i) => f.indices[i]), activations: order.map((i) => f.activations[i]), labels: order.map((i) => f.labels[i]) });
  }
  return out;
}

/** One vote's remarks as the votes query sends them: explanation id, reviewer id, note, marked claims. */
type RemarkRow = [number, number, string | null, Array<{ index: number }> | null];

export interface VotesOfRange {
  count: number;
  explanationId: Int32Array;
  reviewerId: Int32Array;
  /** LABEL_CODES. */
  label: Uint8Array;
  /** When the vote was last cast or changed, epoch milliseconds. */
  votedAt: Float64Array;
  /** Notes and marked claims of the votes that have either, by explanation id, then reviewer id. */
  remarks: Map<number, Map<number, VoteRemarks>>;
}

/** What a reviewer wrote beside a label: a note, and the 1-based claims marked as wrong. */
export interface VoteRemarks {
  note: string | null;
  markedClaims: number[];
}

/**
 * The current votes on explanations with ids in [firstId, lastId], ordered as the unique
 * (explanation_id, reviewer_id) index is, with the notes and marked claims of those that have
 * any. Like the label pass, the range travels as one compact text row, as these are most of the
 * rows an export reads. The database sends them in the order it finds them and they are put in
 * order here: PostgreSQL answers an ORDER BY with a bitmap heap scan and a sort, where a
 * counting sort over the explanation ids costs almost nothing.
 */
export async function votesOfExplanationRange(db: Queryable, firstId: number, lastId: number): Promise<VotesOfRange> {
  const result = (await db.execute(sql`
    select count(*)::int as count,
      coalesce(string_agg(explanation_id || ',' || reviewer_id || ',' ||
        case label when 'faithful' then 0 when 'confabulated' then 1 else 2 end || ',' || voted_at_ms, ';'), '') as packed,
      coalesce(json_agg(json_build_array(explanation_id, reviewer_id, note, marked_claims))
        filter (where note is not null or marked_claims <> '[]'::jsonb), '[]') as remarks
    from (select ${votes.explanationId} as explanation_id, ${votes.reviewerId} as reviewer_id, ${votes.label} as label,
            extract(epoch from ${votes.updatedAt}) as voted_at_ms, ${votes.note} as note, ${votes.markedClaims} as marked_claims
          from ${votes} where ${votes.explanationId} between ${firstId} and ${lastId}) range`)) as unknown as {
    rows: Array<{ count: number; packed: string; remarks: RemarkRow[] | string }>;
  };
  const { packed } = result.rows[0];
  const rawRemarks = result.rows[0].remarks;
  const remarks = new Map<number, Map<number, VoteRemarks>>();
  for (const [explanationId, reviewerId, note, marked] of (typeof rawRemarks === 'string' ? JSON.parse(rawRemarks) : rawRemarks) as RemarkRow[]) {
    const indices = (marked ?? []).map((m) => m.index).sort((a, b) => a - b);
    let ofExplanation = remarks.get(explanationId);
    if (!ofExplanation) remarks.set(explanationId, (ofExplanation = new Map()));
    ofExplanation.set(reviewerId, { note, markedClaims: indices });
  }
  const count = Number(result.rows[0].count);
  const out: VotesOfRange = {
    count,
    explanationId: new Int32Array(count),
    reviewerId: new Int32Array(count),
    label: new Uint8Array(count),
    votedAt: new Float64Array(count),
    remarks,
  };
  let field = 0;
  let value = 0;
  let v = 0;
  // The time is sent as extract()'s decimal seconds (numeric since PostgreSQL 14, e.g.
  // 1795533958.886000), converted here: the ms conversion in SQL (numeric multiply, floor,
  // bigint cast) is costly for its size.
  let fractionDigits = -1;
  let negative = false;
  for (let i = 0; i <= packed.length && count > 0; i++) {
    const c = i < packed.length ? packed.charCodeAt(i) : 59;
    if (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48);
      if (fractionDigits >= 0) fractionDigits++;
    } else if (c === 46 /* '.' */) fractionDigits = 0;
    else if (c === 45 /* '-' */) negative = true;
    else if (c === 44 || c === 59) {
      if (field === 0) out.explanationId[v] = value;
      else if (field === 1) out.reviewerId[v] = value;
      else if (field === 2) out.label[v] = value;
      else {
        // Microseconds since the epoch (< 2^53 for any timestamp PostgreSQL stores), floored to ms.
        const micros = value * 10 ** (6 - Math.max(fractionDigits, 0));
        out.votedAt[v] = Math.floor((negative ? -micros : micros) / 1000);
      }
      value = 0;
      fractionDigits = -1;
      negative = false;
      field++;
      if (c === 59) {
        v++;
        field = 0;
      }
    }
  }
  return inIndexOrder(out, firstId, lastId);
}

/** The votes ordered by (explanation id, reviewer id). */
export function inIndexOrder(votes: VotesOfRange, firstId: number, lastId: number): VotesOfRange {
  const n = votes.count;
  const { explanationId, reviewerId } = votes;
  const order = new Int32Array(n);
  const span = lastId - firstId + 1;
  if (n > 0 && span <= 4 * n + 65_536) {
    // Counting sort on the explanation id, then the few votes of each explanation by reviewer.
    const start = new Int32Array(span + 1);
    for (let v = 0; v < n; v++) start[explanationId[v] - firstId + 1]++;
    for (let i = 0; i < span; i++) start[i + 1] += start[i];
    const next = start.slice(0, span);
    for (let v = 0; v < n; v++) order[next[explanationId[v] - firstId]++] = v;
    for (let i = 0; i < span; i++) {
      for (let a = start[i] + 1; a < start[i + 1]; a++) {
        const x = order[a];
        let b = a - 1;
        while (b >= start[i] && reviewerId[order[b]] > reviewerId[x]) {
          order[b + 1] = order[b];
          b--;
        }
        order[b + 1] = x;
      }
    }
  } else {
    for (let v = 0; v < n; v++) order[v] = v;
    order.sort((a, b) => explanationId[a] - explanationId[b] || reviewerId[a] - reviewerId[b]);
  }
  const sorted: VotesOfRange = {
    count: n,
    explanationId: new Int32Array(n),
    reviewerId: new Int32Array(n),
    label: new Uint8Array(n),
    votedAt: new Float64Array(n),
    remarks: votes.remarks,
  };
  for (let k = 0; k < n; k++) {
    const v = order[k];
    sorted.explanationId[k] = explanationId[v];
    sorted.reviewerId[k] = reviewerId[v];
    sorted.label[k] = votes.label[v];
    sorted.votedAt[k] = votes.votedAt[v];
  }
  return sorted;
}

/**
 * The stored activation vectors of some positions. The bytes travel base64-encoded: PGlite
 * decodes bytea's hex text form one character at a time in JS, where base64 is decoded
 * natively by Buffer.
 */
export async function activationsOfPositions(db: Queryable, positionIds: number[]): Promise<Array<{ positionId: number; vector: Uint8Array }>> {
  if (positionIds.length === 0) return [];
  const result = (await db.execute(sql`
    select ${activations.positionId} as position_id, encode(${activations.vector}, 'base64') as vector
    from ${activations} where ${activations.positionId} in (select unnest(${`{${positionIds.join(',')}}`}::int[]))`)) as unknown as {
    rows: Array<{ position_id: number; vector: string }>;
  };
  return result.rows.map((r) => ({ positionId: Number(r.position_id), vector: Buffer.from(r.vector, 'base64') }));
}
