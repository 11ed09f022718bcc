/**
 * What a queued request will cost the engine, so the queue admits by work instead of by count
 * and its Retry-After is the time the work ahead takes to drain.
 *
 * A cost is in units: 1 for the forward passes every request shares (prompt, SAE, AR), plus one
 * per sample the NLA generates. Generation is the long part; a sample ends at its end-of-text
 * token, which comes long before a large max_new_tokens, so a sample counts as at most 64 tokens
 * (smaller limits count less). The prompt is bounded by the character limit and runs in one
 * batched pass. The time
 * one unit takes is learned from the batches that ran (`CostMeter`), so the same units serve a
 * CPU and a GPU.
 */
import type { AnalyzeRequest } from '../../protocol/analyze';

/** When a request does not say, the AV generates about this many tokens (the reference default). */
const DEFAULT_NEW_TOKENS = 64;

export function analyzeCost(request: AnalyzeRequest): number {
  const positions = request.positions?.length ?? 1;
  const generated = positions * request.nla_samples * Math.min(request.max_new_tokens ?? DEFAULT_NEW_TOKENS, DEFAULT_NEW_TOKENS);
  return 1 + generated / DEFAULT_NEW_TOKENS;
}

/** A moving estimate of the milliseconds one cost unit takes on one lane. */
export class CostMeter {
  private msPerUnit: number;

  /** `initialMsPerUnit`: the guess before the first batch has run. */
  constructor(initialMsPerUnit = 50) {
    this.msPerUnit = initialMsPerUnit;
  }

  /** A batch of `units` took `ms`. Recent batches count most: the load and the batch sizes change. */
  observe(units: number, ms: number): void {
    if (!(units > 0) || !(ms >= 0)) return;
    this.msPerUnit = 0.6 * this.msPerUnit + 0.4 * (ms / units);
  }

  ms(units: number): number {
    return units * this.msPerUnit;
  }
}
