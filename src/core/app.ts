/**
 * Builds the running core of one Confab process from its Config: the database (migrated),
 * the install secret, the dispatcher and the event hub. Channels receive the result and call
 * the command runner; `close()` stops everything in order.
 */
import { eq, sql } from 'drizzle-orm';
import { openDatabase, queryRows } from '../../db';
import { analyses, channels, workspaces } from '../../db/schema';
import type { Config } from '../config';
import { createLogger, type Logger } from '../log';
import type { AnalysisBackend } from './backend';
import { DigestScheduler, type DigestSchedulerOptions } from './digest/schedule';
import { Dispatcher } from './dispatcher';
import { EventHub } from './events';
import { Identity, loadInstallSecret } from './identity';
import { judgeAnalysis } from './judge';
import type { Judge } from './labels/signals';
import { RateLimiter } from './rate-limit';
import type { Services } from './services';
import { SettingsStore } from './settings';
import { loadAnalysisView } from './views';

export type { Services } from './services';

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
  /** The digest scheduler's timings (lease, rescan interval, lateness, process id). */
  digest?: Pick<DigestSchedulerOptions, 'leaseMs' | 'rescanMs' | 'lateAfterMs' | 'processId'>;
  /** How long an analysis's claim holds without a heartbeat (ms, default 10 000). */
  leaseMs?: number;
  /**
   * The LLM judge that scores each finished analysis (`createJudge(config.judge)` from
   * src/inference/judge.ts); none by default.
   */
  judge?: Judge | null;
  /** Where the core logs; stderr at `config.logLevel` by default. */
  logger?: Logger;
}

export async function createServices(config: Config, options: CreateServicesOptions = {}): Promise<Services> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const database = await openDatabase(config.database);
  try {
    const secret = await loadInstallSecret(database.db, config.installSecret);
    const hub = new EventHub((error, event) => logger.error({ analysisId: event.analysisId, err: error }, 'a finished-analysis listener failed'));
    const backend = options.backend ?? null;
    const judge = options.judge ?? null;
    // Judge runs in flight, so close() can stop and await them; they never block a result.
    const judging = new Set<Promise<void>>();
    const stopJudging = new AbortController();
    const startJudge = (analysisId: number) => {
      const run = judgeAnalysis(database.db, judge!, analysisId, stopJudging.signal)
        .then(() => undefined)
        .catch((e: unknown) => {
          if (!stopJudging.signal.aborted) logger.warn({ analysisId, err: e }, 'the LLM judge failed');
        })
        .finally(() => judging.delete(run));
      judging.add(run);
    };

    // Results left to a process whose command awaits them, checked again when its watch ends.
    const rechecks = new Set<NodeJS.Timeout>();
    const secs = (options.leaseMs ?? 10_000) / 1000;
    /**
     * Posts a finished result once across processes. The watch is the claim to post it: the
     * process whose command awaits the result holds it; otherwise whoever finished the analysis
     * (or the sweep, `claimed`) takes it, if its channels serve the platform. `posted_at` is set
     * after the channel has shown the result, so a poster that dies first leaves it owed. A
     * `recheck` looks again once another process's watch should have ended.
     */
    const finished = async (analysisId: number, mode: 'finished' | 'claimed' | 'recheck' = 'finished') => {
      const claimed = mode === 'claimed';
      const [where] = await database.db
        .select({
          platform: workspaces.platform,
          workspace: workspaces.externalId,
          channel: channels.externalId,
          messageRef: analyses.messageRef,
          watcher: analyses.watchedBy,
          posted: sql<boolean>`${analyses.postedAt} is not null`,
          // A command in another live process awaits this result and will show it there.
          watchedElsewhere: sql<boolean>`${analyses.watchedBy} is not null and ${analyses.watchedBy} <> ${dispatcher.instanceId} and ${analyses.watchedUntil} > now()`,
          watchLeftMs: sql<number>`greatest(0, extract(epoch from (${analyses.watchedUntil} - now())) * 1000)`,
        })
        .from(analyses)
        .innerJoin(workspaces, eq(workspaces.id, analyses.workspaceId))
        .innerJoin(channels, eq(channels.id, analyses.channelId))
        .where(eq(analyses.id, analysisId));
      if (!where) return;
      const awaitedHere = hub.hasWaiter(analysisId);
      if (where.posted && !awaitedHere) return;
      const watchedElsewhere = where.watchedElsewhere === true && !claimed;
      const view = await loadAnalysisView(database.db, analysisId, null);
      const event = { analysisId, platform: where.platform, workspaceId: where.workspace, channelId: where.channel, messageRef: where.messageRef, view };
      if (watchedElsewhere && !awaitedHere) {
        // Channels hear that it finished but leave it to the watcher; should that process die
        // before showing it, the result is posted here after all (or by another's sweep).
        const timer = setTimeout(() => {
          rechecks.delete(timer);
          void finished(analysisId, 'recheck').catch((e: unknown) => logger.error({ analysisId, err: e }, 'rechecking a watched analysis failed'));
        }, Number(where.watchLeftMs) + 250);
        timer.unref();
        rechecks.add(timer);
        if (mode !== 'recheck') await hub.emitAnalysisFinished({ ...event, followUpPending: true });
        return;
      }
      if (!awaitedHere && !hub.serves(where.platform)) return;
      const taken = await queryRows(database.db, sql`
        update analyses set watched_by = ${dispatcher.instanceId}, watched_until = now() + make_interval(secs => ${secs})
        where id = ${analysisId} and posted_at is null
          and (watched_by is null or watched_by = ${dispatcher.instanceId} or watched_until < now())
        returning id`);
      if (taken.length === 0) {
        // Shown by another process (this one's watch lapsed while it stalled): say so, once.
        if (awaitedHere) hub.emitShownElsewhere(analysisId);
        return;
      }
      if (judge && mode === 'finished' && view.kind === 'analysis' && view.status === 'done') startJudge(analysisId);
      const delivered = await hub.emitAnalysisFinished({ ...event, followUpPending: awaitedHere });
      if (!delivered) return;
      await database.db.execute(sql`
        update analyses set posted_at = now(), watched_by = null, watched_until = null
        where id = ${analysisId} and watched_by = ${dispatcher.instanceId}`);
    };
    const dispatcher = new Dispatcher(database, backend, {
      timeoutMs: config.worker.timeoutMs,
      concurrency: options.concurrency,
      pollMs: options.pollMs,
      leaseMs: options.leaseMs,
      onFinished: (analysisId, claimedPost) => finished(analysisId, claimedPost ? 'claimed' : 'finished'),
      servedPlatforms: () => hub.servedPlatforms(),
      watched: () => hub.waitingIds(),
      logger,
    });

    const digests = new DigestScheduler({ db: database.db, config, listeners: hub.digests, log: (level, message) => logger[level](message), ...options.digest });

    let closing: Promise<void> | null = null;
    const services: Services = {
      config,
      events: hub,
      database,
      backend,
      dispatcher,
      identity: new Identity(database.db, secret),
      settingsStore: new SettingsStore(config),
      rateLimiter: new RateLimiter(database.db, config.limits.rateLimitPerMinute),
      hub,
      judge,
      digests,
      logger,
      get stopping() {
        return closing !== null;
      },
      close() {
        closing ??= (async () => {
          hub.releaseWaiters((analysisId) => ({
            kind: 'message',
            tone: 'warning',
            lines: [`Confab is stopping. Analysis #${analysisId} is saved and will finish after the restart.`],
          }));
          await digests.stop();
          for (const timer of rechecks) clearTimeout(timer);
          await dispatcher.stop();
          stopJudging.abort();
          await Promise.all([...judging]);
          await backend?.close?.().catch((e: unknown) => logger.warn({ err: e }, 'closing the inference backend failed'));
          await database.close();
        })();
        return closing;
      },
    };
    if (!backend) logger.warn('No inference backend: analyses will be queued but not run by this process.');
    await dispatcher.start();
    digests.start();
    return services;
  } catch (e) {
    await database.close().catch(() => {});
    throw e;
  }
}
