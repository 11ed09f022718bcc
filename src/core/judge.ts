/**
 * The optional LLM judge, run after an analysis is stored so a slow or failing
 * endpoint never delays the result. Its verdict (or the kind of failure) is merged into each
 * explanation's `signals.judge`; the other signals stored with the result are kept.
 */
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { Queryable } from '../../db';
import { analyses, explanations, positions, saeFeatures } from '../../db/schema';
import { computeSignals, type Judge } from './labels/signals';

/** Judges every NLA explanation of one analysis, one request at a time; returns how many were judged. */
export async function judgeAnalysis(db: Queryable, judge: Judge, analysisId: number, signal?: AbortSignal): Promise<number> {
  const [analysis] = await db.select({ prompt: analyses.prompt }).from(analyses).where(eq(analyses.id, analysisId));
  if (!analysis) return 0;
  const items = await db
    .select({ id: explanations.id, positionId: explanations.positionId, text: explanations.text, token: positions.token })
    .from(explanations)
    .innerJoin(positions, eq(positions.id, explanations.positionId))
    .where(and(eq(explanations.analysisId, analysisId), eq(explanations.source, 'nla')))
    .orderBy(asc(explanations.id));
  if (items.length === 0) return 0;
  const features = await db
    .select({ positionId: saeFeatures.positionId, index: saeFeatures.featureIndex, activation: saeFeatures.activation, label: saeFeatures.label })
    .from(saeFeatures)
    .where(inArray(saeFeatures.positionId, [...new Set(items.map((i) => i.positionId))]))
    .orderBy(asc(saeFeatures.positionId), asc(saeFeatures.rank));
  let judged = 0;
  for (const item of items) {
    if (signal?.aborted) break;
    const stored = await computeSignals(
      { prompt: analysis.prompt, token: item.token, explanation: item.text, features: features.filter((f) => f.positionId === item.positionId) },
      judge,
      signal,
    );
    if (!stored.judge) continue;
    await db
      .update(explanations)
      .set({ signals: sql`${explanations.signals} || jsonb_build_object('judge', ${JSON.stringify(stored.judge)}::jsonb)` })
      .where(eq(explanations.id, item.id));
    judged++;
  }
  return judged;
}
