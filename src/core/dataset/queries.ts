/**
 * The reads the dataset export needs, all keyset-paginated (`id > after order by id limit n`)
 * so that memory stays bounded and no page costs more than the last: OFFSET pagination would
 * rescan every skipped row and make a million-row export quadratic.
 *
 * Only the reviewer's pseudonym is ever selected from `reviewers`; platform ids and display
 * names are not read, so they cannot leak into an export by mistake.
 */
import { and, asc, eq, gt, gte, inArray, lte, type SQL } from 'drizzle-orm';
import type { Queryable } from '../../../db';
import { activations, analyses, explanations, positions, reviewers, saeFeatures, votes } from '../../../db/schema';

export interface ExportScope {
  /** Limit to one workspace (the channel `dataset` command); all workspaces when absent. */
  workspaceId?: number;
}

export interface VoteForLabels {
  id: number;
  explanationId: number;
  reviewerId: number;
  label: string;
  source: string;
}

/** One page of current votes (with their explanation's source), for the label pass. */
export async function voteLabelPage(db: Queryable, scope: ExportScope, after: number, limit: number): Promise<VoteForLabels[]> {
  const where: SQL[] = [gt(votes.id, after)];
  if (scope.workspaceId !== undefined) where.push(eq(explanations.workspaceId, scope.workspaceId));
  return db
    .select({
      id: votes.id,
      explanationId: votes.explanationId,
      reviewerId: votes.reviewerId,
      label: votes.label,
      source: explanations.source,
    })
    .from(votes)
    .innerJoin(explanations, eq(explanations.id, votes.explanationId))
    .where(and(...where))
    .orderBy(asc(votes.id))
    .limit(limit);
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

export async function featuresOfPositions(db: Queryable, positionIds: number[]): Promise<FeatureForExport[]> {
  if (positionIds.length === 0) return [];
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

export interface VoteForExport {
  explanationId: number;
  label: string;
  pseudonym: string;
  votedAt: Date;
}

/**
 * The current votes on explanations with ids in [firstId, lastId], oldest first per
 * explanation. A range (not an IN list) so the unique (explanation_id, reviewer_id) index
 * serves it as one scan.
 */
export async function votesOfExplanationRange(db: Queryable, firstId: number, lastId: number): Promise<VoteForExport[]> {
  return db
    .select({
      explanationId: votes.explanationId,
      label: votes.label,
      pseudonym: reviewers.pseudonym,
      votedAt: votes.updatedAt,
    })
    .from(votes)
    .innerJoin(reviewers, eq(reviewers.id, votes.reviewerId))
    .where(and(gte(votes.explanationId, firstId), lte(votes.explanationId, lastId)))
    .orderBy(asc(votes.explanationId), asc(votes.updatedAt), asc(votes.id));
}

export async function activationsOfPositions(db: Queryable, positionIds: number[]): Promise<Array<{ positionId: number; vector: Uint8Array }>> {
  if (positionIds.length === 0) return [];
  return db
    .select({ positionId: activations.positionId, vector: activations.vector })
    .from(activations)
    .where(inArray(activations.positionId, positionIds));
}
