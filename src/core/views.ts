/**
 * Builds view models from stored rows. Tallies are hidden (null) from a viewer until that
 * viewer has voted on the item, or the item has closed: live tallies bias votes.
 */
import { and, asc, eq, inArray } from 'drizzle-orm';
import type { Queryable } from '../../db';
import { analyses, explanations, positions, reviewers, saeFeatures, tokens, votes } from '../../db/schema';
import { analysisActions, explanationActions } from './actions';
import { splitClaims } from './claims';
import { notFound } from './errors';
import { featureReferences, readableFeatureLabel } from './legend';
import type { AnalysisView, ExplanationView, PositionView, VoteLabel } from './view';

type ExplanationRow = typeof explanations.$inferSelect;

export function outcomeOf(e: Pick<ExplanationRow, 'faithfulVotes' | 'confabulatedVotes'>): 'faithful' | 'confabulated' | 'undecided' {
  if (e.faithfulVotes > e.confabulatedVotes) return 'faithful';
  if (e.confabulatedVotes > e.faithfulVotes) return 'confabulated';
  return 'undecided';
}

export function explanationView(e: ExplanationRow, number: number, myVote: VoteLabel | null): ExplanationView {
  const closed = e.state === 'closed';
  // Rewriting `#780` keeps every sentence boundary, so claim numbers still match the stored text's.
  const text = featureReferences(e.text);
  const view: ExplanationView = {
    explanationId: e.id,
    number,
    text,
    parsed: e.parsed,
    claims: splitClaims(text),
    ar: e.arCosine === null ? null : { cosine: e.arCosine, mseNrm: e.arMseNrm ?? 2 * (1 - e.arCosine), fveNrm: e.arFveNrm ?? 0 },
    state: e.state,
    tally: closed || myVote !== null ? { faithful: e.faithfulVotes, confabulated: e.confabulatedVotes, unsure: e.unsureVotes } : null,
    myVote,
    actions: explanationActions(e.id),
  };
  if (closed) {
    view.closedReason = e.closedReason ?? undefined;
    view.outcome = outcomeOf(e);
  }
  return view;
}

/**
 * The whole analysis as `viewerReviewerId` sees it (null: someone who has not voted).
 * `workspaceId`, when given, hides analyses of other workspaces as unknown ids.
 */
export async function loadAnalysisView(db: Queryable, analysisId: number, viewerReviewerId: number | null, workspaceId?: number): Promise<AnalysisView> {
  const [row] = await db
    .select({ analysis: analyses, requester: reviewers.displayName })
    .from(analyses)
    .innerJoin(reviewers, eq(reviewers.id, analyses.requesterId))
    .where(eq(analyses.id, analysisId));
  if (!row || (workspaceId !== undefined && row.analysis.workspaceId !== workspaceId)) throw notFound('Analysis', analysisId);
  const a = row.analysis;

  const view: AnalysisView = {
    kind: 'analysis',
    analysisId: a.id,
    status: a.status,
    prompt: a.prompt,
    tokens: [],
    model: a.model ?? '',
    layer: a.layer ?? -1,
    positions: [],
    requestedBy: row.requester,
    actions: [],
  };
  if (a.status === 'failed') {
    view.error = a.error ?? 'The analysis failed.';
    view.retryable = a.retryable;
    view.actions = analysisActions(view);
  }
  if (a.status !== 'done') return view;

  const [tokenRows, positionRows, explanationRows] = await Promise.all([
    db.select().from(tokens).where(eq(tokens.analysisId, a.id)).orderBy(asc(tokens.idx)),
    db.select().from(positions).where(eq(positions.analysisId, a.id)).orderBy(asc(positions.position)),
    // Decoys are attached to a position but shown only to the reviewer /review served them to.
    db.select().from(explanations).where(and(eq(explanations.analysisId, a.id), eq(explanations.source, 'nla'))).orderBy(asc(explanations.positionId), asc(explanations.sample)),
  ]);
  view.tokens = tokenRows.map((t) => ({ text: t.text, start: t.start, end: t.end }));
  const positionIds = positionRows.map((p) => p.id);
  const explanationIds = explanationRows.map((e) => e.id);
  const [featureRows, myVotes] = await Promise.all([
    positionIds.length
      ? db.select().from(saeFeatures).where(inArray(saeFeatures.positionId, positionIds)).orderBy(asc(saeFeatures.positionId), asc(saeFeatures.rank))
      : Promise.resolve([]),
    viewerReviewerId !== null && explanationIds.length
      ? db
          .select({ explanationId: votes.explanationId, label: votes.label })
          .from(votes)
          .where(and(eq(votes.reviewerId, viewerReviewerId), inArray(votes.explanationId, explanationIds)))
      : Promise.resolve([]),
  ]);
  const mine = new Map(myVotes.map((v) => [v.explanationId, v.label as VoteLabel]));

  view.positions = positionRows.map((p): PositionView => {
    const own = explanationRows.filter((e) => e.positionId === p.id);
    return {
      position: p.position,
      token: p.token,
      features: featureRows.filter((f) => f.positionId === p.id).map((f) => ({ index: f.featureIndex, label: readableFeatureLabel(f.label), activation: f.activation })),
      l0: p.l0,
      explainedVariance: p.explainedVariance,
      fveNrm: p.fveNrm,
      explanations: own.map((e, i) => explanationView(e, i + 1, mine.get(e.id) ?? null)),
    };
  });
  return view;
}
