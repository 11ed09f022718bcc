/**
 * The life of an analysis: created `queued` by /explain, claimed `running` by a dispatcher,
 * then `done` with everything the worker returned stored in one transaction, or `failed` with a
 * reason the user sees. A retryable failure goes back to `queued` with /retry.
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Queryable, Db } from '../../db';
import { activations, analyses, explanations, positions, saeFeatures, tokens, type AnalysisSelection } from '../../db/schema';
import type { AnalyzeResponse } from '../protocol/analyze';
import type { ActorIds } from './identity';
import { DomainError, formatCount, notFound } from './errors';
import { featureOverlap, type ActiveFeature, type StoredSignals } from './labels/signals';
import { characterCount } from './text';

export interface AnalysisRequest {
  prompt: string;
  selection: AnalysisSelection;
  nlaSamples: number;
  topK: number;
}

/** Rejects prompts that cannot be analysed, with what is allowed. */
export function checkPrompt(prompt: string, maxChars: number): void {
  if (prompt.trim().length === 0) {
    throw new DomainError('prompt_empty', 'The prompt is empty. Send the text to analyse, e.g. `/explain The cat sat on the mat`.');
  }
  const length = characterCount(prompt);
  if (length > maxChars) {
    throw new DomainError('prompt_too_long', `Prompt is ${formatCount(length)} characters; the limit is ${formatCount(maxChars)}.`);
  }
}

/** Checks a token/position choice against the prompt before anything is queued. */
export function checkSelection(prompt: string, selection: AnalysisSelection): void {
  if (selection.token !== undefined) {
    if (selection.token.length === 0) throw new DomainError('unknown_token', 'The token text is empty; give a word or piece of the prompt.');
    if (!prompt.includes(selection.token)) {
      throw new DomainError(
        'unknown_token',
        `"${selection.token}" does not occur in the prompt. Give a word or piece of the prompt (case matters), or a position (0 = first token, -1 = last).`,
      );
    }
  }
}

export async function createAnalysis(db: Queryable, who: ActorIds, request: AnalysisRequest, messageRef?: string | null, replyExpiresAt?: Date | null): Promise<number> {
  const [row] = await db
    .insert(analyses)
    .values({
      workspaceId: who.workspaceId,
      channelId: who.channelId,
      requesterId: who.reviewerId,
      prompt: request.prompt,
      selection: request.selection,
      nlaSamples: request.nlaSamples,
      topK: request.topK,
      messageRef: messageRef ?? null,
      replyExpiresAt: replyExpiresAt ?? null,
    })
    .returning({ id: analyses.id });
  return row.id;
}

/** Records where the platform shows this analysis, once the pending reply was posted. */
export async function setAnalysisMessageRef(db: Queryable, analysisId: number, messageRef: string, replyExpiresAt?: Date | null): Promise<void> {
  await db
    .update(analyses)
    .set({ messageRef, replyExpiresAt: replyExpiresAt ?? null, updatedAt: sql`now()` })
    .where(eq(analyses.id, analysisId));
}

/**
 * Stores a worker result for an analysis this process holds (`claimedBy`), all in one
 * transaction. Returns false, storing nothing, when the claim was lost (the lease ran out and
 * another process took the analysis over).
 */
export async function storeAnalysisResult(db: Db, analysisId: number, claimedBy: string, result: AnalyzeResponse): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [held] = await tx
      .update(analyses)
      .set({
        status: 'done',
        model: result.model,
        layer: result.layer,
        dModel: result.d_model,
        positions: result.positions.map((p) => p.position),
        timings: { ...result.timings_ms },
        error: null,
        errorCode: null,
        leaseUntil: null,
        finishedAt: sql`now()`,
        updatedAt: sql`now()`,
      })
      .where(and(eq(analyses.id, analysisId), eq(analyses.status, 'running'), eq(analyses.claimedBy, claimedBy)))
      .returning({ workspaceId: analyses.workspaceId });
    if (!held) return false;

    if (result.tokens.length > 0) {
      await tx.insert(tokens).values(
        result.tokens.map((t, idx) => ({ analysisId, idx, tokenId: t.id, text: t.text, start: t.start, end: t.end, special: t.special ?? false })),
      );
    }
    if (result.positions.length === 0) return true;
    const positionRows = await tx
      .insert(positions)
      .values(
        result.positions.map((p) => ({
          analysisId,
          position: p.position,
          token: p.token,
          l0: p.sae.l0,
          explainedVariance: p.sae.explained_variance,
          fveNrm: p.sae.fve_nrm,
        })),
      )
      .returning({ id: positions.id, position: positions.position });
    const idOf = new Map(positionRows.map((r) => [r.position, r.id]));

    const features = result.positions.flatMap((p) =>
      p.sae.features.map((f, i) => ({ positionId: idOf.get(p.position)!, rank: i + 1, featureIndex: f.index, activation: f.activation, label: f.label })),
    );
    if (features.length > 0) await tx.insert(saeFeatures).values(features);

    // The automatic signals stored with each explanation: the AR fve_nrm has its own
    // column; the feature-label overlap is computed here, in the same transaction, from the
    // position's SAE features. The optional judge runs after the commit (src/core/judge.ts).
    const items = result.positions.flatMap((p) =>
      p.explanations.map((e, sample) => ({
        signals: overlapSignal(e.text, p.sae.features),
        positionId: idOf.get(p.position)!,
        analysisId,
        workspaceId: held.workspaceId,
        sample,
        source: 'nla' as const,
        text: e.text,
        raw: e.raw,
        parsed: e.parsed,
        arCosine: e.ar.cosine,
        arMseNrm: e.ar.mse_nrm,
        arFveNrm: e.ar.fve_nrm,
      })),
    );
    if (items.length > 0) await tx.insert(explanations).values(items);

    const vectors = result.positions
      .filter((p) => p.activation)
      .map((p) => {
        const bytes = Buffer.from(p.activation!, 'base64');
        return { positionId: idOf.get(p.position)!, dModel: bytes.length / 4, vector: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
      });
    if (vectors.length > 0) await tx.insert(activations).values(vectors);
    return true;
  });
}

function overlapSignal(text: string, features: readonly ActiveFeature[]): StoredSignals & Record<string, unknown> {
  const overlap = featureOverlap(text, features);
  return { feature_overlap: { score: overlap.score, matched: overlap.matched, content_words: overlap.contentWords } };
}

export interface AnalysisFailure {
  code: string;
  /** Safe to show to the user: what went wrong and what they can do. */
  message: string;
  retryable: boolean;
}

/** Marks a held analysis failed; false when the claim was lost. */
export async function failAnalysis(db: Queryable, analysisId: number, claimedBy: string, failure: AnalysisFailure): Promise<boolean> {
  const rows = await db
    .update(analyses)
    .set({
      status: 'failed',
      error: failure.message,
      errorCode: failure.code,
      retryable: failure.retryable,
      leaseUntil: null,
      finishedAt: sql`now()`,
      updatedAt: sql`now()`,
    })
    .where(and(eq(analyses.id, analysisId), eq(analyses.status, 'running'), eq(analyses.claimedBy, claimedBy)))
    .returning({ id: analyses.id });
  return rows.length > 0;
}

/** Puts a failed analysis back in the queue. */
export async function retryAnalysis(db: Queryable, analysisId: number, workspaceId: number): Promise<void> {
  const [a] = await db
    .select({ status: analyses.status, retryable: analyses.retryable, error: analyses.error, workspaceId: analyses.workspaceId })
    .from(analyses)
    .where(eq(analyses.id, analysisId));
  if (!a || a.workspaceId !== workspaceId) throw notFound('Analysis', analysisId);
  if (a.status === 'done') throw new DomainError('not_failed', `Analysis #${analysisId} is done; only a failed analysis can be retried.`);
  if (a.status === 'queued' || a.status === 'running') {
    throw new DomainError('not_failed', `Analysis #${analysisId} is ${a.status} already; its result will be posted when it is ready.`);
  }
  if (!a.retryable) {
    throw new DomainError(
      'not_retryable',
      `Analysis #${analysisId} failed because of its input (${a.error ?? 'unknown reason'}); retrying would fail the same way. Send a new /explain instead.`,
    );
  }
  const rows = await db
    .update(analyses)
    .set({ status: 'queued', error: null, errorCode: null, claimedBy: null, leaseUntil: null, finishedAt: null, postedAt: null, updatedAt: sql`now()` })
    .where(and(eq(analyses.id, analysisId), eq(analyses.status, 'failed')))
    .returning({ id: analyses.id });
  if (rows.length === 0) throw new DomainError('not_failed', `Analysis #${analysisId} was retried by someone else just now.`);
}
