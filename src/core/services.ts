/**
 * What commands and channels are given: the running pieces of one Confab process.
 * `createServices` (src/core/app.ts) builds it from a Config; channels receive it and call
 * `invokeCommand` (src/core/invoke.ts) and the event hooks below, never the database.
 *
 * Fields may be added; the ones here are what the channels rely on.
 */
import type { Config } from '../config';
import type { View } from './view';
import type { Actor } from '../../commands/types';
import type { DigestListener } from './digest/event';

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

export type { DigestEvent, DigestListener } from './digest/event';

export interface ConfabEvents {
  /** Fires when an analysis reaches done or failed, including analyses resumed after a restart. */
  onAnalysisFinished(listener: (event: AnalysisFinishedEvent) => void | Promise<void>): () => void;
  /** A scheduled digest is due on `platform`; the listener posts it and resolves true (see DigestEvent). */
  onDigest(platform: Actor['platform'], listener: DigestListener): () => void;
}

export interface Services {
  config: Config;
  events: ConfabEvents;
  /** Stops the dispatcher, the embedded worker and the database, in that order. */
  close(): Promise<void>;
  // The implementation (src/core/app.ts) adds the store, dispatcher and inference client.
  [key: string]: unknown;
}
