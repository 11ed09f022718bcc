/**
 * Builds the running core of one Confab process from its Config: the database (migrated),
 * the install secret, the dispatcher and the event hub. Channels receive the result and call
 * `invokeCommand`; `close()` stops everything in order.
 */
import { eq } from 'drizzle-orm';
import { openDatabase } from '../../db';
import { analyses, channels, workspaces } from '../../db/schema';
import type { Config } from '../config';
import type { AnalysisBackend } from './backend';
import type { CoreServices } from './context';
import { DigestScheduler, type DigestSchedulerOptions } from './digest/schedule';
import { Dispatcher } from './dispatcher';
import { EventHub } from './events';
import { Identity, loadInstallSecret } from './identity';
import { judgeAnalysis } from './judge';
import { createJudge } from './labels/signals';
import { RateLimiter } from './rate-limit';
import { SettingsStore } from './settings';
import { loadAnalysisView } from './views';

export type { CoreServices } from './context';
export { coreOf } from './context';

export interface CreateServicesOptions {
  /**
   * The inference backend (`createInferenceClient(...)` from src/inference/). Without one,
   * analyses are queued but not run by this process (e.g. `confab migrate`, `confab doctor`).
   */
  backend?: AnalysisBackend | null;
  /** Analyses this process runs at once (default 2). */
  concurrency?: number;
  /** How often to look for work queued by other processes (ms, default 2000). */
  pollMs?: number;
  log?: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;
  /** The digest scheduler's timings (lease, rescan interval, lateness, process id). */
  digest?: Pick<DigestSchedulerOptions, 'leaseMs' | 'rescanMs' | 'lateAfterMs' | 'processId'>;
}

const LEVELS = { debug: 0, info: 1, warn: 2, error: 3 } as const;

export async function createServices(config: Config, options: CreateServicesOptions = {}): Promise<CoreServices> {
  const log =
    options.log ??
    ((level: keyof typeof LEVELS, message: string) => {
      if (LEVELS[level] >= LEVELS[config.logLevel]) console.error(`[${level}] ${message}`);
    });
  const database = await openDatabase(config.database);
  try {
    const secret = await loadInstallSecret(database.db, config.installSecret);
    const hub = new EventHub((error, event) => log('error', `analysis ${event.analysisId}: a finished-analysis listener failed: ${(error as Error)?.message ?? error}`));
    const backend = options.backend ?? null;
    const judge = createJudge(config.judge);
    // Judge runs in flight, so close() can stop and await them; they never block a result.
    const judging = new Set<Promise<void>>();
    const stopJudging = new AbortController();
    const startJudge = (analysisId: number) => {
      const run = judgeAnalysis(database.db, judge!, analysisId, stopJudging.signal)
        .then(() => undefined)
        .catch((e: unknown) => {
          if (!stopJudging.signal.aborted) log('warn', `analysis ${analysisId}: the LLM judge failed: ${(e as Error)?.message ?? e}`);
        })
        .finally(() => judging.delete(run));
      judging.add(run);
    };

    const finished = async (analysisId: number) => {
      const [where] = await database.db
        .select({ platform: workspaces.platform, workspace: workspaces.externalId, channel: channels.externalId, messageRef: analyses.messageRef })
        .from(analyses)
        .innerJoin(workspaces, eq(workspaces.id, analyses.workspaceId))
        .innerJoin(channels, eq(channels.id, analyses.channelId))
        .where(eq(analyses.id, analysisId));
      const view = await loadAnalysisView(database.db, analysisId, null);
      if (judge && view.kind === 'analysis' && view.status === 'done') startJudge(analysisId);
      await hub.emitAnalysisFinished({
        analysisId,
        platform: where.platform as 'terminal' | 'discord' | 'slack',
        workspaceId: where.workspace,
        channelId: where.channel,
        messageRef: where.messageRef,
        view,
        followUpPending: hub.hasWaiter(analysisId),
      });
    };
    const dispatcher = new Dispatcher(database, backend, {
      timeoutMs: config.worker.timeoutMs,
      concurrency: options.concurrency,
      pollMs: options.pollMs,
      onFinished: finished,
      watched: () => hub.waitingIds(),
      log,
    });

    const digests = new DigestScheduler({ db: database.db, config, listeners: hub.digests, log, ...options.digest });

    let closing: Promise<void> | null = null;
    const services: CoreServices = {
      config,
      events: hub,
      database,
      backend,
      dispatcher,
      identity: new Identity(database.db, secret),
      settingsStore: new SettingsStore(config),
      rateLimiter: new RateLimiter(config.limits.rateLimitPerMinute),
      hub,
      judge,
      digests,
      log,
      close() {
        closing ??= (async () => {
          hub.releaseWaiters((analysisId) => ({
            kind: 'message',
            tone: 'warning',
            lines: [`Confab is stopping. Analysis #${analysisId} is saved and will finish after the restart.`],
          }));
          await digests.stop();
          await dispatcher.stop();
          stopJudging.abort();
          await Promise.all([...judging]);
          await backend?.close?.().catch((e: unknown) => log('warn', `closing the inference backend failed: ${(e as Error).message}`));
          await database.close();
        })();
        return closing;
      },
    };
    if (!backend) log('warn', 'No inference backend: analyses will be queued but not run by this process.');
    await dispatcher.start();
    digests.start();
    return services;
  } catch (e) {
    await database.close().catch(() => {});
    throw e;
  }
}
