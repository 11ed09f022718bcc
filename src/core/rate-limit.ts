/**
 * The per-user rate limit shared by every command marked `rateLimited` (the ones that cost
 * worker time: explain, retry). A sliding window of one minute, kept in this process: with
 * several bot processes each enforces it on the events it receives.
 */
export class RateLimiter {
  private readonly recent = new Map<string, number[]>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one use for `key`; returns how long to wait (ms) when over the limit, else 0. */
  take(key: string): number {
    const t = this.now();
    const windowStart = t - 60_000;
    const times = (this.recent.get(key) ?? []).filter((x) => x > windowStart);
    if (times.length >= this.perMinute) {
      this.recent.set(key, times);
      return times[0] - windowStart;
    }
    times.push(t);
    this.recent.set(key, times);
    return 0;
  }

  get limit(): number {
    return this.perMinute;
  }
}
