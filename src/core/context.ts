/**
 * The core's side of Services: what `createServices` puts there and commands use. Channels see
 * only the `Services` fields; commands reach the rest through `coreOf`.
 */
import type { Database } from '../../db';
import type { AnalysisBackend } from './backend';
import type { DigestScheduler } from './digest/schedule';
import type { Dispatcher } from './dispatcher';
import type { EventHub } from './events';
import type { Identity } from './identity';
import type { Judge } from './labels/signals';
import type { RateLimiter } from './rate-limit';
import type { Services } from './services';
import type { SettingsStore } from './settings';

export interface CoreServices extends Services {
  database: Database;
  /** Null when no backend was given: analyses stay queued until a process with one starts. */
  backend: AnalysisBackend | null;
  dispatcher: Dispatcher;
  identity: Identity;
  settingsStore: SettingsStore;
  rateLimiter: RateLimiter;
  hub: EventHub;
  /** The optional LLM judge (config.judge); null when off, the default. */
  judge: Judge | null;
  /** Posts each workspace's scheduled digest through the channels' digest listeners. */
  digests: DigestScheduler;
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
}

export function coreOf(services: Services): CoreServices {
  const s = services as Partial<CoreServices>;
  if (!s.database || !s.dispatcher || !s.identity || !s.settingsStore || !s.hub) {
    throw new Error('These Services were not built by createServices (src/core/app.ts).');
  }
  return services as CoreServices;
}
