/**
 * Decoys: when to serve one, and whose text it shows. The review order and the close rule are
 * SQL (src/core/queue.ts, and the vote function in migrations/); these two choices are not.
 */

/** Serve a decoy this time? `random` is injectable for tests; rate is CONFAB_DECOY_RATE. */
export function shouldServeDecoy(rate: number, random: () => number = Math.random): boolean {
  if (!(rate >= 0 && rate <= 1)) throw new RangeError(`Decoy rate must be from 0 to 1; got ${rate}.`);
  return random() < rate;
}

export interface DecoySourceCandidate {
  explanationId: number;
  analysisId: number;
  prompt: string;
  model: string | null;
  layer: number | null;
  text: string;
}

/**
 * Picks the explanation whose text a decoy will show on `target`: one from a different
 * analysis whose prompt differs (the same prompt analysed twice would make a true
 * explanation, not a decoy), preferring the same model and layer so the text reads like a
 * plausible explanation; then uniformly at random. Null when no candidate qualifies.
 */
export function pickDecoySource<T extends DecoySourceCandidate>(
  target: { analysisId: number; prompt: string; model: string | null; layer: number | null; text?: string },
  candidates: readonly T[],
  random: () => number = Math.random,
): T | null {
  const eligible = candidates.filter((c) => c.analysisId !== target.analysisId && c.prompt !== target.prompt && c.text !== target.text);
  if (eligible.length === 0) return null;
  const sameModel = eligible.filter((c) => c.model === target.model && c.layer === target.layer);
  const pool = sameModel.length > 0 ? sameModel : eligible;
  return pool[Math.min(pool.length - 1, Math.floor(random() * pool.length))];
}
