/**
 * What the dispatcher needs from an inference worker. `createInferenceClient` in
 * `src/inference/` returns an object of this shape; tests may pass an in-process worker.
 */
import type { AnalyzeRequestInput, AnalyzeResponse } from '../protocol/analyze';

export interface AnalysisBackend {
  analyze(request: AnalyzeRequestInput, signal?: AbortSignal): Promise<AnalyzeResponse>;
  /**
   * The prompt's token count and the model's context, asked before an analysis is queued. Throws
   * an error with status 400 and code `prompt_too_long` (and the worker's `detail`) when the
   * prompt does not fit. Absent on backends that cannot count (the analysis then queues and the
   * worker refuses it there).
   */
  countTokens?(prompt: string, signal?: AbortSignal): Promise<{ tokens: number; maxTokens: number }>;
  /** The model behind the backend; `max_tokens` is its context, `max_prompt_chars` a bound in characters. */
  capabilities?(signal?: AbortSignal): Promise<{ model: string; max_tokens: number; max_prompt_chars?: number }>;
  /**
   * What the workers behind it run at once (`concurrent`) and how much of it other clients hold
   * (`othersInUse`), or null when they do not say; the dispatcher then runs a fixed number at once.
   */
  capacity?(): Promise<{ concurrent: number; othersInUse: number } | null>;
  /** Releases the backend's resources (an embedded worker, HTTP agents); called by Services.close(). */
  close?(): Promise<void>;
}

/**
 * How the dispatcher reads a failed `analyze` call. Any error with these optional fields is
 * understood; clients need not use this class.
 * - `status`: the worker's HTTP status. 4xx (except 408 and 429) means the request itself is bad
 *   (a position out of range, a prompt over the model's token limit): retrying cannot help.
 * - `retryable`: overrides the status rule when set.
 * - `detail`: the worker's human message ({error, detail} body), shown to the user.
 */
export class AnalysisBackendError extends Error {
  constructor(
    message: string,
    readonly options: { status?: number; code?: string; retryable?: boolean; detail?: string } = {},
  ) {
    super(message);
    this.name = 'AnalysisBackendError';
  }
  get status() {
    return this.options.status;
  }
  get code() {
    return this.options.code;
  }
  get retryable() {
    return this.options.retryable;
  }
  get detail() {
    return this.options.detail;
  }
}
