/**
 * The running pieces of one Confab process, as `createServices` (src/core/app.ts) builds them
 * from a Config. Commands use them through their context; channels call the command runner and
 * listen to `events`, and never the database.
 */
import type { Database } from '../../db';
import type { Config } from '../config';
import type { Logger } from '../log';
import type { AnalysisBackend } from './backend';
import type { Dispatcher } from './dispatcher';
import type { DigestScheduler } from './digest/schedule';
import type { ConfabEvents, EventHub } from './events';

export type { AnalysisFinishedEvent, ConfabEvents } from './events';
export type { DigestEvent, DigestListener } from './digest/event';
import type { Identity } from './identity';
import type { Judge } from './labels/signals';
import type { RateLimiter } from './rate-limit';
import type { SettingsStore } from './settings';

export interface Services {
  config: Config;
  events: ConfabEvents;
  database: Database;
  /** Null when no backend was given: analyses stay queued until a process with one starts. */
  backend: AnalysisBackend | null;
  dispatcher: Dispatcher;
  identity: Identity;
  settingsStore: SettingsStore;
  rateLimiter: RateLimiter;
  /** The same hub as `events`, with the waiting side commands use (`waitForAnalysis`). */
  hub: EventHub;
  /** The optional LLM judge; null when off, the default. */
  judge: Judge | null;
  logger: Logger;
  /** Posts each workspace's scheduled digest through the channels' digest listeners. */
  digests: DigestScheduler;
  /** Stops the dispatcher, the embedded worker and the database, in that order. */
  close(): Promise<void>;
  /** True from the moment close() is called: commands are refused, saying why. */
  readonly stopping: boolean;
}
