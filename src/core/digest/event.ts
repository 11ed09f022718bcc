/**
 * The digest's delivery event: the core decides that a fire is due and claims it, then hands the
 * content to the channels of that platform, which render and post it. A listener resolves true
 * once it has posted; only then is the fire marked posted, so a failed post is retried.
 */
import type { Digest } from './content';

export interface DigestEvent {
  platform: 'terminal' | 'discord' | 'slack';
  /** The platform's workspace id (guild, team, 'local'). */
  workspaceId: string;
  /** The platform's channel id to post in (the digest_channel setting). */
  channelId: string;
  digest: Digest;
  scheduledFor: Date;
  /** Posted after the bot was down at the scheduled time. */
  late: boolean;
}

export type DigestListener = (event: DigestEvent) => boolean | Promise<boolean>;

/** The digest listeners of one process, by platform. */
export class DigestListeners {
  private readonly byPlatform = new Map<string, Set<DigestListener>>();
  /** Called when a listener is added, so the scheduler can look for due fires at once. */
  onAdded: (() => void) | null = null;

  add(platform: string, listener: DigestListener): () => void {
    let set = this.byPlatform.get(platform);
    if (!set) this.byPlatform.set(platform, (set = new Set()));
    set.add(listener);
    this.onAdded?.();
    return () => set.delete(listener);
  }

  platforms(): string[] {
    return [...this.byPlatform].filter(([, set]) => set.size > 0).map(([platform]) => platform);
  }

  /** Hands the digest to its platform's listeners; true when one of them posted it. A throw is the caller's to log. */
  async deliver(event: DigestEvent): Promise<boolean> {
    let posted = false;
    for (const listener of [...(this.byPlatform.get(event.platform) ?? [])]) {
      if (await listener(event)) posted = true;
    }
    return posted;
  }
}
