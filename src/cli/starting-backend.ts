/**
 * The inference backend while it loads. `confab start` opens the database and shows its prompt
 * while the embedded worker loads the models on its threads; analyses sent meanwhile wait here
 * for the load, then go to the loaded backend.
 */
import type { AnalysisBackend } from '../core/backend';
import type { AnalyzeRequestInput, AnalyzeResponse } from '../protocol/analyze';

export interface LoadedBackend extends AnalysisBackend {
  /** For the start line: which workers, or the embedded worker and its threads. */
  description: string;
  /** The embedded worker: stop the running analyses at their next step (a second signal). */
  hurry?(): void;
}

export interface StartingBackend extends AnalysisBackend {
  /** True until the load has finished or failed. */
  readonly starting: boolean;
  /** Resolves when the backend has loaded; rejects with the reason it could not. */
  readonly ready: Promise<void>;
  /** The loaded backend's description, or `whileLoading` until then. */
  readonly description: string;
  close(): Promise<void>;
}

export function startingBackend(loading: Promise<LoadedBackend>, whileLoading: string): StartingBackend {
  let loaded: LoadedBackend | null = null;
  let starting = true;
  const ready = loading.then(
    (backend) => {
      loaded = backend;
      starting = false;
    },
    (error: unknown) => {
      starting = false;
      throw error;
    },
  );
  // Whoever starts the backend handles a failed load; an analysis waiting here must not.
  ready.catch(() => {});

  return {
    get starting() {
      return starting;
    },
    ready,
    get description() {
      return loaded?.description ?? whileLoading;
    },
    async analyze(request: AnalyzeRequestInput, signal?: AbortSignal): Promise<AnalyzeResponse> {
      if (!loaded) await untilLoaded(ready, signal);
      return loaded!.analyze(request, signal);
    },
    // Until the load ends these have no answer: the prompt check and the settings then leave the
    // decision to the worker, and the dispatcher runs its fixed number at once.
    async countTokens(prompt: string, signal?: AbortSignal) {
      if (!loaded?.countTokens) throw new Error('The inference worker is starting; it checks the prompt when it runs it.');
      return loaded.countTokens(prompt, signal);
    },
    async capabilities(signal?: AbortSignal) {
      if (!loaded?.capabilities) throw new Error('The inference worker is starting.');
      return loaded.capabilities(signal);
    },
    async capacity() {
      return loaded?.capacity ? loaded.capacity() : null;
    },
    async close() {
      // A load under way is waited for, so that its threads are closed rather than left behind.
      try {
        await ready;
      } catch {
        return;
      }
      await loaded!.close?.();
    },
  };
}

/**
 * Waits for the load. When it fails, the analysis is not failed with it: the process is
 * stopping on that error, and the call ends when the dispatcher aborts it at stop, which queues
 * the analysis again for the next start.
 */
function untilLoaded(ready: Promise<void>, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    ready.then(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      () => {},
    );
  });
}
