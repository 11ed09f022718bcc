/**
 * In-process events: the dispatcher reports finished analyses here, channels listen. Also lets
 * the command that queued an analysis wait for its result (CommandResult.followUp).
 */
import type { Actor } from './actor';
import { DigestListeners, type DigestListener } from './digest/event';
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
  /**
   * Fires when an analysis reaches done or failed, including analyses resumed after a restart.
   * A channel names its platform: results of that platform are then posted by this process
   * (whichever process finished them), and the listener resolves once it has shown one, its
   * own follow-up's delivery included (a follow-up never waits for these listeners). Without a
   * platform the listener hears every platform's results.
   */
  onAnalysisFinished(listener: (event: AnalysisFinishedEvent) => void | Promise<void>, platform?: Actor['platform']): () => void;
  /** A scheduled digest is due on `platform`; the listener posts it and resolves true (see DigestEvent). */
  onDigest(platform: Actor['platform'], listener: DigestListener): () => void;
}

type Listener = (event: AnalysisFinishedEvent) => void | Promise<void>;

export class EventHub implements ConfabEvents {
  /** Digest listeners by platform; the digest scheduler delivers through them. */
  readonly digests = new DigestListeners();

  onDigest(platform: string, listener: DigestListener): () => void {
    return this.digests.add(platform, listener);
  }

  private readonly listeners = new Map<Listener, string | undefined>();
  private readonly waiters = new Map<number, Array<(view: View) => void>>();

  constructor(private readonly onListenerError: (error: unknown, event: AnalysisFinishedEvent) => void) {}

  onAnalysisFinished(listener: Listener, platform?: string): () => void {
    this.listeners.set(listener, platform);
    return () => this.listeners.delete(listener);
  }

  /** The platforms whose results this process can post: null for all (a listener without a platform). */
  servedPlatforms(): string[] | null {
    const platforms = new Set<string>();
    for (const platform of this.listeners.values()) {
      if (platform === undefined) return null;
      platforms.add(platform);
    }
    return [...platforms];
  }

  /** Whether a result of `platform` can be shown here. */
  serves(platform: string): boolean {
    const served = this.servedPlatforms();
    return served === null || served.includes(platform);
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

  /** Resolves false when a listener failed: the result is then not shown everywhere it should be. */
  async emitAnalysisFinished(event: AnalysisFinishedEvent): Promise<boolean> {
    const waiting = this.waiters.get(event.analysisId) ?? [];
    this.waiters.delete(event.analysisId);
    this.recent.set(event.analysisId, event.view);
    if (this.recent.size > EventHub.RECENT) this.recent.delete(this.recent.keys().next().value!);
    for (const resolve of waiting) resolve(event.view);
    let delivered = true;
    for (const [listener, platform] of [...this.listeners]) {
      if (platform !== undefined && platform !== event.platform) continue;
      try {
        await listener(event);
      } catch (e) {
        delivered = false;
        this.onListenerError(e, event);
      }
    }
    return delivered;
  }

  /** Answers the follow-ups of an analysis whose result another process has shown. */
  emitShownElsewhere(analysisId: number): void {
    const waiting = this.waiters.get(analysisId) ?? [];
    this.waiters.delete(analysisId);
    const view: View = { kind: 'message', lines: [`Analysis #${analysisId} finished; another Confab process has shown its result.`] };
    for (const resolve of waiting) resolve(view);
  }

  /** At shutdown: answers every pending follow-up with `view` so no channel waits forever. */
  releaseWaiters(view: (analysisId: number) => View): void {
    for (const [analysisId, waiting] of this.waiters) for (const resolve of waiting) resolve(view(analysisId));
    this.waiters.clear();
  }
}
