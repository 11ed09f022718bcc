/**
 * The reads the dataset export needs, all keyset-paginated (`id > after order by id limit n`)
 * so that memory stays bounded and no page costs more than the last: OFFSET pagination would
 * rescan every skipped row and make a million-row export quadratic.
 *
 * Only the reviewer's pseudonym is ever selected from `reviewers`; platform ids and display
 * names are not read, so they cannot leak into an export by mistake.
 */
import { and, asc, eq, gt, gte, inArray, lte, sql, type SQL } from 'drizzle-orm';
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
 * text (`explanation,reviewer,label;…`), because a million single rows through the driver cost
 * ~50 s on PGlite (per-row protocol and object mapping) where this costs ~2.5 s; the database
 * still does the keyset scan over the primary key.
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
  // Hand-rolled parse: split() would allocate three million strings for a million votes.
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
  createdAt: Date;
  model: string | null;
  layer: number | null;
  prompt: string;
  position: number;
  token: string;
  l0: number;
  explainedVariance: number;
  fveNrm: number;
}

/** One page of real (non-decoy) explanations with their position and analysis. */
export async function explanationPage(
  db: Queryable,
  scope: ExportScope & { since?: Date },
  after: number,
  limit: number,
): Promise<ExplanationForExport[]> {
  const where: SQL[] = [gt(explanations.id, after), eq(explanations.source, 'nla')];
  if (scope.workspaceId !== undefined) where.push(eq(explanations.workspaceId, scope.workspaceId));
  if (scope.since) where.push(gte(explanations.createdAt, scope.since));
  return db
    .select({
      id: explanations.id,
      analysisId: explanations.analysisId,
      positionId: explanations.positionId,
      sample: explanations.sample,
      source: explanations.source,
      text: explanations.text,
      parsed: explanations.parsed,
      arCosine: explanations.arCosine,
      arMseNrm: explanations.arMseNrm,
      arFveNrm: explanations.arFveNrm,
      signals: explanations.signals,
      state: explanations.state,
      createdAt: explanations.createdAt,
      model: analyses.model,
      layer: analyses.layer,
      prompt: analyses.prompt,
      position: positions.position,
      token: positions.token,
      l0: positions.l0,
      explainedVariance: positions.explainedVariance,
      fveNrm: positions.fveNrm,
    })
    .from(explanations)
    .innerJoin(positions, eq(positions.id, explanations.positionId))
    .innerJoin(analyses, eq(analyses.id, explanations.analysisId))
    .where(and(...where))
    .orderBy(asc(explanations.id))
    .limit(limit);
}

export interface FeatureForExport {
  positionId: number;
  featureIndex: number;
  activation: number;
  label: string;
}

/**
 * The SAE features of some positions, strongest first. Positions of consecutive explanations
 * are nearly consecutive, so a dense id set is read as one primary-key range (no sort, no
 * large IN list) and filtered here; a sparse set falls back to IN.
 */
export async function featuresOfPositions(db: Queryable, positionIds: number[]): Promise<FeatureForExport[]> {
  if (positionIds.length === 0) return [];
  const first = Math.min(...positionIds);
  const last = Math.max(...positionIds);
  if (last - first < 4 * positionIds.length) {
    const wanted = new Set(positionIds);
    const rows = await db
      .select({
        positionId: saeFeatures.positionId,
        featureIndex: saeFeatures.featureIndex,
        activation: saeFeatures.activation,
        label: saeFeatures.label,
      })
      .from(saeFeatures)
      .where(and(gte(saeFeatures.positionId, first), lte(saeFeatures.positionId, last)))
      .orderBy(asc(saeFeatures.positionId), asc(saeFeatures.rank));
    return rows.filter((r) => wanted.has(r.positionId));
  }
  return db
    .select({
      positionId: saeFeatures.positionId,
      featureIndex: saeFeatures.featureIndex,
      activation: saeFeatures.activation,
      label: saeFeatures.label,
    })
    .from(saeFeatures)
    .where(inArray(saeFeatures.positionId, positionIds))
    .orderBy(asc(saeFeatures.positionId), asc(saeFeatures.rank));
}

export interface VotesOfRange {
  count: number;
  explanationId: Int32Array;
  reviewerId: Int32Array;
  /** LABEL_CODES. */
  label: Uint8Array;
  /** When the vote was last cast or changed, epoch milliseconds. */
  votedAt: Float64Array;
}

/**
 * The current votes on explanations with ids in [firstId, lastId], ordered as the unique
 * (explanation_id, reviewer_id) index is, so the database answers with one index scan and no
 * sort. Like the label pass, the range travels as one compact text row: these are most of the
 * rows an export reads (five per explanation), and per-row transfer and mapping was the
 * largest share of the export's time.
 */
export async function votesOfExplanationRange(db: Queryable, firstId: number, lastId: number): Promise<VotesOfRange> {
  const result = (await db.execute(sql`
    select count(*)::int as count,
      coalesce(string_agg(explanation_id || ',' || reviewer_id || ',' ||
        case label when 'faithful' then 0 when 'confabulated' then 1 else 2 end || ',' || voted_at_ms, ';'
        order by explanation_id, reviewer_id), '') as packed
    from (select ${votes.explanationId} as explanation_id, ${votes.reviewerId} as reviewer_id, ${votes.label} as label,
            floor(extract(epoch from ${votes.updatedAt}) * 1000)::bigint as voted_at_ms
          from ${votes} where ${votes.explanationId} between ${firstId} and ${lastId}) range`)) as unknown as {
    rows: Array<{ count: number; packed: string }>;
  };
  const { packed } = result.rows[0];
  const count = Number(result.rows[0].count);
  const out: VotesOfRange = {
    count,
    explanationId: new Int32Array(count),
    reviewerId: new Int32Array(count),
    label: new Uint8Array(count),
    votedAt: new Float64Array(count),
  };
  let field = 0;
  let value = 0;
  let v = 0;
  for (let i = 0; i <= packed.length && count > 0; i++) {
    const c = i < packed.length ? packed.charCodeAt(i) : 59;
    if (c >= 48 && c <= 57) value = value * 10 + (c - 48);
    else if (c === 44 || c === 59) {
      if (field === 0) out.explanationId[v] = value;
      else if (field === 1) out.reviewerId[v] = value;
      else if (field === 2) out.label[v] = value;
      else out.votedAt[v] = value;
      value = 0;
      field++;
      if (c === 59) {
        v++;
        field = 0;
      }
    }
  }
  return out;
}

export async function activationsOfPositions(db: Queryable, positionIds: number[]): Promise<Array<{ positionId: number; vector: Uint8Array }>> {
  if (positionIds.length === 0) return [];
  return db
    .select({ positionId: activations.positionId, vector: activations.vector })
    .from(activations)
    .where(inArray(activations.positionId, positionIds));
}
