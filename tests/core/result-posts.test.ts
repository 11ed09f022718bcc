/**
 * A finished result is posted once, even when the process that should post it dies or stalls:
 * `analyses.posted_at` is written only after a channel has shown the result, and a finished row
 * still unposted once nobody holds the claim (the watch) is posted by the next process that
 * serves its platform. Across processes on PostgreSQL; across a restart on PGlite too.
 */
import { sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { queryRows } from '../../db';
import { createServices, type Services } from '../../src/core/app';
import type { AnalysisFinishedEvent } from '../../src/core/services';
import type { AnalysisView, View } from '../../src/core/view';
import { silentLogger } from '../../src/log';
import { createTestDatabase, PG_URL, STORAGE_KINDS, testConfig, type TestDatabase } from '../db/support';
import { FixtureWorker } from './fixture-worker';
import { actor, run } from './helpers';

async function postedAt(services: Services, analysisId: number): Promise<Date | null> {
  const [row] = await queryRows<{ posted_at: Date | null }>(services.database.db, sql`select posted_at from analyses where id = ${analysisId}`);
  return row?.posted_at ?? null;
}

async function statusOf(services: Services, analysisId: number): Promise<string | undefined> {
  const [row] = await queryRows<{ status: string }>(services.database.db, sql`select status from analyses where id = ${analysisId}`);
  return row?.status;
}

/** Queues an analysis in a process without a worker, which then stops: no command awaits it. */
async function queueAndLeave(config: ReturnType<typeof testConfig>, prompt: string): Promise<number> {
  const requester = await createServices(config, { backend: null, logger: silentLogger });
  try {
    return ((await run(requester, actor('alice'), 'explain', { prompt })).view as AnalysisView).analysisId;
  } finally {
    await requester.close();
  }
}

/** Every finished event of one platform that a channel in `services` would post (not a pending follow-up). */
function channelPosts(services: Services, platform: string, into: AnalysisFinishedEvent[], fail?: () => boolean): void {
  services.events.onAnalysisFinished((event) => {
    if (event.followUpPending) return;
    if (fail?.()) throw new Error('the channel could not show it');
    into.push(event);
  }, platform);
}

describe.each(STORAGE_KINDS)('results owed a post across a restart ($kind)', ({ kind, skip }) => {
  let database: TestDatabase;
  beforeEach(async () => {
    if (!skip) database = await createTestDatabase(kind);
  });
  afterEach(async () => {
    await database?.drop();
  });

  it.skipIf(skip)('a result its channel failed to show is posted by the next start, once', async () => {
    const config = testConfig(database.target);
    const failedId = await queueAndLeave(config, 'The channel was down');
    const first = await createServices(config, { backend: new FixtureWorker(), pollMs: 100, logger: silentLogger });
    const shownFirst: AnalysisFinishedEvent[] = [];
    let failing = true;
    channelPosts(first, 'terminal', shownFirst, () => failing);
    try {
      await vi.waitFor(async () => expect(await statusOf(first, failedId)).toBe('done'), { timeout: 10_000 });
      await new Promise((r) => setTimeout(r, 300));
      expect(shownFirst).toEqual([]);
      expect(await postedAt(first, failedId)).toBeNull();
      failing = false;
    } finally {
      await first.close();
    }

    const second = await createServices(config, { backend: new FixtureWorker(), pollMs: 100, logger: silentLogger });
    const shownSecond: AnalysisFinishedEvent[] = [];
    channelPosts(second, 'terminal', shownSecond);
    try {
      await vi.waitFor(async () => expect(await postedAt(second, failedId)).not.toBeNull(), { timeout: 10_000 });
      // Several sweeps later, still once.
      await new Promise((r) => setTimeout(r, 500));
      expect(shownSecond.map((e) => [e.analysisId, (e.view as AnalysisView).status])).toEqual([[failedId, 'done']]);
    } finally {
      await second.close();
    }
  });
});

describe.skipIf(!PG_URL)('results owed a post across bot processes (PostgreSQL)', () => {
  let database: TestDatabase;
  beforeEach(async () => {
    database = await createTestDatabase('postgres');
  });
  afterEach(async () => {
    await database?.drop();
  });
  const config = () => testConfig(database.target, { CONFAB_WORKER_TIMEOUT_MS: '60000', CONFAB_RATE_LIMIT_PER_MINUTE: '100' });

  it('a watcher that stalled past its watch does not show a result another process has already posted', async () => {
    // A waits for its command's result. A long lease keeps A's renewal from running during the
    // test, and a long poll keeps A from looking at the result until the test says so.
    const a = await createServices(config(), { backend: new FixtureWorker(), pollMs: 60_000, leaseMs: 60_000, concurrency: 0, logger: silentLogger });
    const worker = new FixtureWorker();
    const release = worker.hold();
    const b = await createServices(config(), { backend: worker, pollMs: 100, logger: silentLogger });
    const postedByA: AnalysisFinishedEvent[] = [];
    const postedByB: AnalysisFinishedEvent[] = [];
    channelPosts(a, 'terminal', postedByA);
    channelPosts(b, 'terminal', postedByB);
    try {
      const pending = await run(a, actor('alice'), 'explain', { prompt: 'Awaited by a process that stalls' });
      const analysisId = (pending.view as AnalysisView).analysisId;
      await vi.waitFor(() => expect(worker.requests.length).toBeGreaterThan(0), { timeout: 10_000 });
      // What a stall of A longer than its lease leaves: a watch that has run out.
      await a.database.db.execute(sql`update analyses set watched_until = now() - interval '1 second' where id = ${analysisId}`);
      release();
      await vi.waitFor(async () => expect(await postedAt(b, analysisId)).not.toBeNull(), { timeout: 10_000 });
      // A comes back from its stall and sees the result done.
      a.dispatcher.notify();
      const followUp = (await pending.followUp!) as View;
      expect(followUp).toMatchObject({ kind: 'message', lines: [expect.stringMatching(/another Confab process has shown its result/)] });
      expect(postedByB.map((e) => e.analysisId)).toEqual([analysisId]);
      expect(postedByA).toEqual([]);
      expect(await postedAt(a, analysisId)).not.toBeNull();
    } finally {
      await b.close();
      await a.close();
    }
  });

  it('an owed result is posted only by a process whose channels serve its platform', async () => {
    const analysisId = await queueAndLeave(config(), 'Owed to the terminal');
    const first = await createServices(config(), { backend: new FixtureWorker(), pollMs: 100, logger: silentLogger });
    channelPosts(first, 'terminal', [], () => true);
    try {
      await vi.waitFor(async () => expect(await statusOf(first, analysisId)).toBe('done'), { timeout: 10_000 });
    } finally {
      await first.close();
    }
    const discordOnly = await createServices(config(), { backend: new FixtureWorker(), pollMs: 100, logger: silentLogger });
    const discordPosts: AnalysisFinishedEvent[] = [];
    channelPosts(discordOnly, 'discord', discordPosts);
    try {
      // Many sweeps: the row stays owed, for a process that can show it.
      await new Promise((r) => setTimeout(r, 1_500));
      expect(discordPosts).toEqual([]);
      expect(await postedAt(discordOnly, analysisId)).toBeNull();
      const terminal = await createServices(config(), { backend: new FixtureWorker(), pollMs: 100, logger: silentLogger });
      const terminalPosts: AnalysisFinishedEvent[] = [];
      channelPosts(terminal, 'terminal', terminalPosts);
      try {
        await vi.waitFor(() => expect(terminalPosts.map((e) => e.analysisId)).toEqual([analysisId]), { timeout: 10_000 });
      } finally {
        await terminal.close();
      }
    } finally {
      await discordOnly.close();
    }
  });
});
