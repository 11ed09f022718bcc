/**
 * The digest scheduler: finds each workspace's due fire, claims it, and hands the digest to the
 * channels of that workspace's platform.
 *
 * Exactly once, across bot processes: a fire is claimed by inserting its row (workspace, channel,
 * scheduled time) into digest_posts, in the transaction that re-reads the settings and decides
 * the fire is due. The unique key lets exactly one process win; the others insert nothing.
 *
 * Failures: the claim carries a lease. A process that dies between claiming and posting leaves
 * a row with no `posted_at`; once its lease has run out, the next process to look (at its start,
 * or its next pass) takes the row over and posts it. A crash after posting but before marking
 * the row posted would post twice: the platforms offer no idempotent post to prevent that.
 *
 * Downtime: at start only the latest fire is considered, never the ones before it, so a bot that
 * was down for three weeks posts one (late) digest, not three. Fires before the digest settings
 * were last changed are never caught up.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { and, eq, inArray, isNull, lt, max, sql } from 'drizzle-orm';
import type { Db, Queryable } from '../../../db';
import { digestPosts, settings, workspaces } from '../../../db/schema';
import type { Config } from '../../config';
import { SettingsStore } from '../settings';
import { loadDigest } from './content';
import type { DigestEvent, DigestListeners } from './event';
import type { Period } from './period';
import { digestSchedule, latestFire, nextFire, periodOfFire, type DigestSchedule } from './spec';

const DIGEST_KEYS = ['digest_channel', 'digest_schedule', 'digest_time_zone'];
/** A fire whose claim keeps failing to post is given up after this many attempts. */
const MAX_ATTEMPTS = 5;

export interface DigestSchedulerOptions {
  db: Db;
  config: Config;
  listeners: DigestListeners;
  log: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;
  /** Names this process in claims (default host:pid:random). */
  processId?: string;
  /** How long a claim is held before another process may take it over (default 5 minutes). */
  leaseMs?: number;
  /** How often settings are read again between fires (default 60 s). */
  rescanMs?: number;
  /** A digest posted this long after its scheduled time is marked late (default 60 s). */
  lateAfterMs?: number;
}

export interface FireOutcome {
  claimId: number;
  workspaceId: number;
  channel: string;
  scheduledFor: Date;
  late: boolean;
  posted: boolean;
}

interface DueWorkspace {
  workspaceId: number;
  platform: string;
  externalId: string;
  channel: string;
  schedule: DigestSchedule;
}

type ClaimRow = typeof digestPosts.$inferSelect;

export class DigestScheduler {
  private readonly processId: string;
  private readonly leaseMs: number;
  private readonly rescanMs: number;
  private readonly lateAfterMs: number;
  /** Reads settings without the cache: the claim decision must see the latest values. */
  private readonly freshSettings: SettingsStore;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: DigestSchedulerOptions) {
    this.processId = options.processId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.leaseMs = options.leaseMs ?? 5 * 60_000;
    this.rescanMs = options.rescanMs ?? 60_000;
    this.lateAfterMs = options.lateAfterMs ?? 60_000;
    this.freshSettings = new SettingsStore(options.config, 0);
  }

  /** Starts looking for due fires as soon as a channel listens for digests. */
  start(): void {
    this.options.listeners.onAdded = () => this.wakeIn(50);
    if (this.options.listeners.platforms().length > 0) this.wakeIn(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.options.listeners.onAdded = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running.catch(() => undefined);
  }

  private wakeIn(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.runOnce()
        .catch((error: unknown) => {
          this.options.log('error', `digest scheduler: a pass failed: ${(error as Error)?.message ?? error}`);
          return { nextWake: null };
        })
        .then(({ nextWake }) => {
          const now = Date.now();
          const until = Math.min(nextWake?.getTime() ?? Infinity, now + this.rescanMs);
          // A few milliseconds past the fire, so the pass sees it as due.
          this.wakeIn(Math.max(0, until - now) + 5);
        });
    }, ms);
    this.timer.unref();
  }

  /** One pass: claims and posts the due fires, retries abandoned claims. Exposed for tests. */
  async runOnce(now = new Date()): Promise<{ outcomes: FireOutcome[]; nextWake: Date | null }> {
    const platforms = this.options.listeners.platforms();
    if (platforms.length === 0) return { outcomes: [], nextWake: null };
    const outcomes: FireOutcome[] = [];
    let nextWake: Date | null = null;
    for (const due of await this.configuredWorkspaces(platforms)) {
      const next = nextFire(due.schedule, now);
      if (next && (!nextWake || next < nextWake)) nextWake = next;
      const claim = await this.claimLatestFire(due, now);
      if (claim) outcomes.push(await this.deliver(claim, due.platform, due.externalId, now));
    }
    for (const retry of await this.takeOverAbandoned(platforms)) outcomes.push(await this.deliver(retry.claim, retry.platform, retry.externalId, now));
    return { outcomes, nextWake };
  }

  /** Workspaces on a listening platform with a digest channel and schedule set. */
  private async configuredWorkspaces(platforms: string[]): Promise<DueWorkspace[]> {
    const { db } = this.options;
    const rows = await db
      .selectDistinct({ workspaceId: workspaces.id, platform: workspaces.platform, externalId: workspaces.externalId })
      .from(settings)
      .innerJoin(workspaces, eq(workspaces.id, settings.workspaceId))
      .where(and(eq(settings.key, 'digest_schedule'), inArray(workspaces.platform, platforms)));
    const due: DueWorkspace[] = [];
    for (const row of rows) {
      const schedule = await this.scheduleOf(db, row.workspaceId);
      if (schedule) due.push({ ...row, ...schedule });
    }
    return due;
  }

  private async scheduleOf(db: Queryable, workspaceId: number): Promise<{ channel: string; schedule: DigestSchedule } | null> {
    const current = await this.freshSettings.get(db, workspaceId);
    if (!current.digest_channel || current.digest_schedule === 'off') return null;
    try {
      const schedule = digestSchedule(current.digest_schedule, current.digest_time_zone);
      return schedule ? { channel: current.digest_channel, schedule } : null;
    } catch (error) {
      this.options.log('warn', `digest scheduler: workspace ${workspaceId} has an unusable schedule: ${(error as Error).message}`);
      return null;
    }
  }

  /**
   * Claims the latest fire at or before `now`, if nobody has: the settings are read again and
   * the claim row written in one transaction, so the decision and the claim cannot drift apart.
   */
  private async claimLatestFire(due: DueWorkspace, now: Date): Promise<ClaimRow | null> {
    const fire = latestFire(due.schedule, now);
    if (!fire) return null;
    return this.options.db.transaction(async (tx) => {
      const [changed] = await tx
        .select({ at: max(settings.updatedAt) })
        .from(settings)
        .where(and(eq(settings.workspaceId, due.workspaceId), inArray(settings.key, DIGEST_KEYS)));
      // Fires from before the digest was set up (or changed) are not owed to anyone.
      if (changed?.at && new Date(changed.at) > fire) return null;
      const current = await this.scheduleOf(tx, due.workspaceId);
      if (!current || current.channel !== due.channel || current.schedule.text !== due.schedule.text || current.schedule.timeZone !== due.schedule.timeZone) return null;
      const period: Period = periodOfFire(due.schedule, fire);
      const [claim] = await tx
        .insert(digestPosts)
        .values({
          workspaceId: due.workspaceId,
          channel: due.channel,
          scheduledFor: fire,
          periodStart: period.start,
          periodEnd: period.end,
          periodKind: period.kind,
          periodLabel: period.label,
          timeZone: period.timeZone,
          late: now.getTime() - fire.getTime() > this.lateAfterMs,
          claimedBy: this.processId,
          leaseUntil: new Date(now.getTime() + this.leaseMs),
        })
        .onConflictDoNothing()
        .returning();
      return claim ?? null;
    });
  }

  /** Claims whose process died before posting, taken over one at a time (the update is the lock). */
  private async takeOverAbandoned(platforms: string[]): Promise<Array<{ claim: ClaimRow; platform: string; externalId: string }>> {
    const { db } = this.options;
    const candidates = await db
      .select({ id: digestPosts.id, platform: workspaces.platform, externalId: workspaces.externalId })
      .from(digestPosts)
      .innerJoin(workspaces, eq(workspaces.id, digestPosts.workspaceId))
      .where(and(isNull(digestPosts.postedAt), lt(digestPosts.leaseUntil, sql`now()`), lt(digestPosts.attempts, MAX_ATTEMPTS), inArray(workspaces.platform, platforms)));
    const taken: Array<{ claim: ClaimRow; platform: string; externalId: string }> = [];
    for (const candidate of candidates) {
      const [claim] = await db
        .update(digestPosts)
        .set({ claimedBy: this.processId, leaseUntil: sql`now() + ${`${this.leaseMs} milliseconds`}::interval`, attempts: sql`${digestPosts.attempts} + 1` })
        .where(and(eq(digestPosts.id, candidate.id), isNull(digestPosts.postedAt), lt(digestPosts.leaseUntil, sql`now()`)))
        .returning();
      if (claim) taken.push({ claim, platform: candidate.platform, externalId: candidate.externalId });
    }
    return taken;
  }

  /** Builds the digest of a claimed fire, hands it to the channels, and marks it posted. */
  private async deliver(claim: ClaimRow, platform: string, externalId: string, now: Date): Promise<FireOutcome> {
    const { db, listeners, log } = this.options;
    const outcome: FireOutcome = { claimId: claim.id, workspaceId: claim.workspaceId, channel: claim.channel, scheduledFor: claim.scheduledFor, late: claim.late, posted: false };
    const [previous] = await db
      .select({ at: max(digestPosts.postedAt) })
      .from(digestPosts)
      .where(and(eq(digestPosts.workspaceId, claim.workspaceId), eq(digestPosts.channel, claim.channel)));
    const period: Period = { kind: claim.periodKind, start: claim.periodStart, end: claim.periodEnd, label: claim.periodLabel, timeZone: claim.timeZone };
    const digest = await loadDigest(db, claim.workspaceId, period, previous?.at ? { since: new Date(previous.at) } : {});
    const event: DigestEvent = {
      platform: platform as DigestEvent['platform'],
      workspaceId: externalId,
      channelId: claim.channel,
      digest,
      scheduledFor: claim.scheduledFor,
      late: claim.late || now.getTime() - claim.scheduledFor.getTime() > this.lateAfterMs,
    };
    outcome.late = event.late;
    try {
      outcome.posted = await listeners.deliver(event);
    } catch (error) {
      log('warn', `digest ${claim.id} (workspace ${claim.workspaceId}, ${claim.periodLabel}): posting failed, retried once its lease ends: ${(error as Error)?.message ?? error}`);
      return outcome;
    }
    if (!outcome.posted) {
      log('warn', `digest ${claim.id} (workspace ${claim.workspaceId}, channel ${claim.channel}): no channel posted it; retried once its lease ends.`);
      return outcome;
    }
    await db.update(digestPosts).set({ postedAt: sql`now()`, late: event.late }).where(eq(digestPosts.id, claim.id));
    log('info', `digest ${claim.id}: posted ${claim.periodLabel} to ${platform} channel ${claim.channel}${event.late ? ' (late)' : ''}.`);
    return outcome;
  }
}
