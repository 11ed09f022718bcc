/**
 * In-process events: the dispatcher reports finished analyses here, channels listen. Also lets
 * the command that queued an analysis wait for its result (CommandResult.followUp).
 */
import type { Actor } from './actor';
import type { View } from './view';

export interface AnalysisFinishedEvent {
  analysisId: number;
  /** Where the analysis was requested, so the owning channel can post the result. */
  platform: Actor['platform'];
  workspaceId: string;
  channelId: string;
  /** Platform message reference stored when the pending view was shown (may be absent). */
  messageRef: string | null;
  /** The result, rendered for a viewer who has not voted. */
  view: View;
  /**
   * True when the command that queued this analysis is still awaiting it in this process
   * (its CommandResult.followUp resolves with the same view), so the channel need not post it
   * again. False after a restart or for analyses queued by another process.
   */
  followUpPending?: boolean;
}

export interface ConfabEvents {
  /** Fires when an analysis reaches done or failed, including analyses resumed after a restart. */
  onAnalysisFinished(listener: (event: AnalysisFinishedEvent) => void | Promise<void>): () => void;
}

type Listener = (event: AnalysisFinishedEvent) => void | Promise<void>;

export class EventHub implements ConfabEvents {
  private readonly listeners = new Set<Listener>();
  private readonly waiters = new Map<number, Array<(view: View) => void>>();

  constructor(private readonly onListenerError: (error: unknown, event: AnalysisFinishedEvent) => void) {}

  onAnalysisFinished(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Results of the last few analyses, so a follow-up registered just after the analysis
   * finished (the dispatcher can be that fast) still gets its result instead of waiting forever.
   */
  private readonly recent = new Map<number, View>();
  private static readonly RECENT = 256;

  /** The view to show once analysis `analysisId` finishes in this process. */
  waitForAnalysis(analysisId: number): Promise<View> {
    const done = this.recent.get(analysisId);
    if (done) return Promise.resolve(done);
    return new Promise<View>((resolve) => {
      const list = this.waiters.get(analysisId) ?? [];
      list.push(resolve);
      this.waiters.set(analysisId, list);
    });
  }

  /** Drops a remembered result: the analysis runs again (/retry). */
  forget(analysisId: number): void {
    this.recent.delete(analysisId);
  }

  /** Analyses some follow-up in this process is waiting for. */
  waitingIds(): number[] {
    return [...this.waiters.keys()];
  }

  hasWaiter(analysisId: number): boolean {
    return (this.waiters.get(analysisId)?.length ?? 0) > 0;
  }

  async emitAnalysisFinished(event: AnalysisFinishedEvent): Promise<void> {
    const waiting = this.waiters.get(event.analysisId) ?? [];
    this.waiters.delete(event.analysisId);
    this.recent.set(event.analysisId, event.view);
    if (this.recent.size > EventHub.RECENT) this.recent.delete(this.recent.keys().next().value!);
    for (const resolve of waiting) resolve(event.view);
    for (const listener of [...this.listeners]) {
      try {
        await listener(event);
      } catch (e) {
        this.onListenerError(e, event);
      }
    }
  }

  /** At shutdown: answers every pending follow-up with `view` so no channel waits forever. */
  releaseWaiters(view: (analysisId: number) => View): void {
    for (const [analysisId, waiting] of this.waiters) for (const resolve of waiting) resolve(view(analysisId));
    this.waiters.clear();
  }
}
