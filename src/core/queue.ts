/**
 * The review queue: the open item most worth this reviewer's vote. The order is the SQL below,
 * and nowhere else.
 *
 * Order: first the contested items — open although they reached the votes to close, because
 * their posterior did not clear the threshold (see castVote in ./votes) — since one or two
 * more votes settle them; then the fewest decisive votes; then the highest uncertainty,
 * 1 − |2p − 1| with p the Laplace-smoothed confabulated share (c + 1)/(f + c + 2); then the
 * oldest. Never an item the reviewer voted on, never a decoy.
 *
 * A soft lock (the review_locks table, so it holds across bot processes: one lock per
 * reviewer, expiring after two minutes) sends two reviewers working at once to different items
 * when there are enough. Items locked by someone else go last, not away: with one open item,
 * two reviewers may share it. It is advisory, so a vote is never refused for it.
 *
 * At the decoy rate, the chosen item's explanation is replaced by a decoy: the text of an
 * explanation of a different activation, from another prompt, stored as an explanation row
 * with source 'decoy' on the chosen position. The reviewer sees the same view shape, the same
 * number, and an id of the same form; their vote measures their accuracy and never enters the
 * labels (the dataset and the signal AUROCs leave decoys out).
 */
import { and, asc, desc, eq, gte, lt, ne, sql } from 'drizzle-orm';
import { queryRows, type Queryable } from '../../db';
import { analyses, explanations, saeFeatures } from '../../db/schema';
import type { ActorIds } from './identity';
import { featureOverlap } from './labels/signals';
import { pickDecoySource, shouldServeDecoy } from './labels/decoys';
import { explanationView, loadAnalysisView } from './views';
import type { PositionView, ReviewItemView } from './view';

export interface ReviewQueueOptions {
  /** Decisive votes at which an item may close (the workspace's votes_to_close). */
  votesToClose: number;
  /** Share of served items that are decoys, 0–1. */
  decoyRate: number;
  /** How long a served item stays reserved for its reviewer (ms, default two minutes). */
  lockMs?: number;
  /** Injectable for tests. */
  random?: () => number;
}

/** Candidates read per request: enough to step over items soft-locked by other reviewers. */
const CANDIDATES = 25;

interface Candidate {
  id: number;
  analysis_id: number;
  position_id: number;
  requester_id: number;
  locked: boolean;
}

const LOCK_MS = 120_000;

export async function nextReviewItem(db: Queryable, who: ActorIds, options: ReviewQueueOptions): Promise<ReviewItemView | null> {
  const candidates = await queryRows<Candidate>(
    db,
    sql`select e.id, e.analysis_id, e.position_id, a.requester_id,
          exists (select 1 from review_locks l where l.explanation_id = e.id and l.reviewer_id <> ${who.reviewerId} and l.until > now()) as locked
        from explanations e join analyses a on a.id = e.analysis_id
        where e.workspace_id = ${who.workspaceId} and e.state = 'open' and e.source = 'nla' and a.status = 'done'
          and not exists (select 1 from votes v where v.explanation_id = e.id and v.reviewer_id = ${who.reviewerId})
        order by locked asc,
                 (e.decisive_votes >= ${options.votesToClose}) desc,
                 e.decisive_votes asc,
                 1 - abs(2 * (e.confabulated_votes + 1)::float8 / (e.decisive_votes + 2) - 1) desc,
                 e.id asc
        limit ${CANDIDATES}`,
  );
  if (candidates.length === 0) return null;
  const next = await takeLock(db, who.reviewerId, candidates, options.lockMs ?? LOCK_MS);

  const random = options.random ?? Math.random;
  // Never a decoy on the reviewer's own analysis: they saw its real explanation when it was
  // posted, so a different text there would give the decoy away.
  const decoyId =
    next.requester_id !== who.reviewerId && shouldServeDecoy(options.decoyRate, random) ? await createDecoy(db, who, next, random) : null;

  const analysis = await loadAnalysisView(db, next.analysis_id, who.reviewerId);
  for (const position of analysis.positions) {
    const real = position.explanations.find((e) => e.explanationId === next.id);
    if (!real) continue;
    if (decoyId === null) return { kind: 'review-item', analysis, position, explanation: real };
    const [row] = await db.select().from(explanations).where(eq(explanations.id, decoyId));
    // The decoy takes the real explanation's place and number, so the view has the same shape.
    const explanation = explanationView(row, real.number, null);
    const shown: PositionView = { ...position, explanations: position.explanations.map((e) => (e === real ? explanation : e)) };
    analysis.positions = analysis.positions.map((p) => (p === position ? shown : p));
    return { kind: 'review-item', analysis, position: shown, explanation };
  }
  return null;
}

/**
 * Locks the first candidate not held by another reviewer. Two requests racing for one item
 * both try the same conditional upsert; the row lock lets one win, and the other moves on.
 * When every candidate is held, the first is shared. The reviewer's previous lock is released.
 */
async function takeLock(db: Queryable, reviewerId: number, candidates: Candidate[], lockMs: number): Promise<Candidate> {
  let chosen: Candidate | undefined;
  for (const c of candidates) {
    if (c.locked) continue;
    const taken = await queryRows<{ explanation_id: number }>(
      db,
      sql`insert into review_locks (explanation_id, reviewer_id, until)
          values (${c.id}, ${reviewerId}, now() + make_interval(secs => ${lockMs / 1000}::float8))
          on conflict (explanation_id) do update set reviewer_id = excluded.reviewer_id, until = excluded.until
          where review_locks.reviewer_id = excluded.reviewer_id or review_locks.until <= now()
          returning explanation_id`,
    );
    if (taken.length > 0) {
      chosen = c;
      break;
    }
  }
  chosen ??= candidates[0];
  await db.execute(sql`delete from review_locks where (reviewer_id = ${reviewerId} and explanation_id <> ${chosen.id}) or until <= now() - interval '1 hour'`);
  return chosen;
}

/**
 * Stores a decoy for `target`'s position: the text of an explanation from another analysis of
 * a different prompt (`pickDecoySource`). Its AR scores are the
 * source's (a decoy showing none would give itself away); its feature overlap is computed
 * against the features of the position it is shown on, like any explanation's.
 * Null when the workspace has no other prompt to borrow from.
 */
async function createDecoy(db: Queryable, who: ActorIds, target: Candidate, random: () => number): Promise<number | null> {
  const [shown] = await db
    .select({ sample: explanations.sample, text: explanations.text, prompt: analyses.prompt, model: analyses.model, layer: analyses.layer })
    .from(explanations)
    .innerJoin(analyses, eq(analyses.id, explanations.analysisId))
    .where(eq(explanations.id, target.id));
  // Up to 50 candidates from a random point of the id range (wrapping around), rather than
  // `order by random()`, which would read every explanation of a large workspace per decoy.
  const [range] = await queryRows<{ lo: number | null; hi: number | null }>(
    db,
    sql`select min(id) as lo, max(id) as hi from explanations where workspace_id = ${who.workspaceId} and source = 'nla'`,
  );
  if (range.lo === null || range.hi === null) return null;
  const start = Number(range.lo) + Math.floor(random() * (Number(range.hi) - Number(range.lo) + 1));
  const poolFrom = (from: 'above' | 'below') =>
    db
      .select({
        explanationId: explanations.id,
        analysisId: explanations.analysisId,
        prompt: analyses.prompt,
        model: analyses.model,
        layer: analyses.layer,
        text: explanations.text,
        raw: explanations.raw,
        parsed: explanations.parsed,
        arCosine: explanations.arCosine,
        arMseNrm: explanations.arMseNrm,
        arFveNrm: explanations.arFveNrm,
      })
      .from(explanations)
      .innerJoin(analyses, eq(analyses.id, explanations.analysisId))
      .where(
        and(
          eq(explanations.workspaceId, who.workspaceId),
          eq(explanations.source, 'nla'),
          eq(explanations.parsed, true),
          ne(explanations.analysisId, target.analysis_id),
          ne(analyses.prompt, shown.prompt),
          from === 'above' ? gte(explanations.id, start) : lt(explanations.id, start),
        ),
      )
      .orderBy(from === 'above' ? asc(explanations.id) : desc(explanations.id))
      .limit(50);
  let pool = await poolFrom('above');
  if (pool.length < 50) pool = pool.concat(await poolFrom('below'));
  const source = pickDecoySource({ analysisId: target.analysis_id, prompt: shown.prompt, model: shown.model, layer: shown.layer, text: shown.text }, pool, random);
  if (!source) return null;
  const features = await db
    .select({ index: saeFeatures.featureIndex, activation: saeFeatures.activation, label: saeFeatures.label })
    .from(saeFeatures)
    .where(eq(saeFeatures.positionId, target.position_id));
  const overlap = featureOverlap(source.text, features);
  const [row] = await db
    .insert(explanations)
    .values({
      positionId: target.position_id,
      analysisId: target.analysis_id,
      workspaceId: who.workspaceId,
      sample: shown.sample,
      source: 'decoy',
      decoyOfExplanationId: source.explanationId,
      text: source.text,
      raw: source.raw,
      parsed: source.parsed,
      arCosine: source.arCosine,
      arMseNrm: source.arMseNrm,
      arFveNrm: source.arFveNrm,
      signals: { feature_overlap: { score: overlap.score, matched: overlap.matched, content_words: overlap.contentWords } },
    })
    .returning({ id: explanations.id });
  return row.id;
}
