/**
 * What the bot sees when a worker cannot answer. Two kinds, because the bot reacts
 * differently: "try later" (no worker could answer) versus "your request was refused".
 */

export interface WorkerAttempt {
  url: string;
  /** What went wrong with this worker, e.g. "connection reset", "429 queue_full", "timed out after 60000 ms". */
  reason: string;
  /** The worker refused the bot's secret (401/403). */
  misconfigured?: boolean;
}

/** No worker answered: all were down, busy, or timed out. Carries every URL tried and why. */
export class WorkerUnavailableError extends Error {
  /** Read by the dispatcher's failure classifier: unavailable, worth a retry later. */
  readonly status = 503;
  readonly code = 'worker_unavailable';
  readonly retryable = true;

  constructor(readonly attempts: WorkerAttempt[]) {
    const urls = [...new Set(attempts.map((a) => a.url))];
    super(
      `No inference worker could answer (tried ${urls.join(', ') || 'none'}): ` +
        attempts.map((a) => `${a.url}: ${a.reason}`).join('; '),
    );
    this.name = 'WorkerUnavailableError';
  }

  get detail(): string {
    return this.attempts.map((a) => `${a.url}: ${a.reason}`).join('; ') || 'no worker was tried';
  }

  /** Every worker tried refused the bot's secret: an operator must fix the configuration. */
  get misconfigured(): boolean {
    return this.attempts.length > 0 && this.attempts.every((a) => a.misconfigured);
  }

  get urlsTried(): string[] {
    return [...new Set(this.attempts.map((a) => a.url))];
  }
}

/** A worker refused the request itself (4xx other than 429): retrying elsewhere would not help. */
export class WorkerRejectedError extends Error {
  readonly retryable = false;

  constructor(
    readonly url: string,
    readonly status: number,
    /** The worker's stable error code, e.g. "invalid_request", "too_many_tokens". */
    readonly code: string,
    /** The worker's human-readable detail, fit to show to the user. */
    readonly detail: string,
  ) {
    super(`Worker ${url} refused the request (${status} ${code}): ${detail}`);
    this.name = 'WorkerRejectedError';
  }
}
