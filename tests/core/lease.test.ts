/**
 * Leases on PostgreSQL with several bot processes sharing one database: a heartbeat keeps a
 * long analysis with the process running it; a process killed mid-analysis (no stop, no
 * release) is taken over within 20 s; a process whose claim was taken over stops and writes
 * nothing; and a result finished by another process is posted once, by the process whose
 * command awaits it.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { analyses } from '../../db/schema';
import { createServices, type Services } from '../../src/core/app';
import type { AnalysisFinishedEvent } from '../../src/core/services';
import type { AnalysisView } from '../../src/core/view';
import { createTestDatabase, PG_URL, testConfig, type TestDatabase } from '../db/support';
import { FixtureWorker } from './fixture-worker';
import { actor, run } from './helpers';
import { silentLogger } from '../../src/log';

async function rowOf(services: Services, analysisId: number) {
  const [row] = await services.database.db.select().from(analyses).where(eq(analyses.id, analysisId));
  return row;
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!PG_URL)('leases across bot processes (PostgreSQL)', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('postgres');
  });
  afterAll(async () => {
    await database?.drop();
  });
  const config = () => testConfig(database.target, { CONFAB_WORKER_TIMEOUT_MS: '60000', CONFAB_RATE_LIMIT_PER_MINUTE: '100' });

  it('a process killed mid-analysis is taken over within 20 s, and the result is posted once', async () => {
    const url = database.target.kind === 'postgres' ? database.target.url : '';
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'crash-child.ts')], {
      env: { ...process.env, CHILD_PG_URL: url },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const requester = await createServices(config(), { backend: null, logger: silentLogger });
    try {
      const ready = (await lines.next()).value as string;
      const crashedId = ready.replace(/^READY /, '');
      const queued = await run(requester, actor('alice'), 'explain', { prompt: 'Claimed by a process that dies' });
      const analysisId = (queued.view as AnalysisView).analysisId;
      await until(async () => (await rowOf(requester, analysisId)).claimedBy === crashedId, 20_000);
      child.kill('SIGKILL');
      const killedAt = Date.now();

      // Default lease and poll, as in production.
      const survivor = await createServices(config(), { backend: new FixtureWorker(), logger: silentLogger });
      const posted: AnalysisFinishedEvent[] = [];
      survivor.events.onAnalysisFinished((e) => void (e.analysisId === analysisId && posted.push(e)));
      try {
        await until(async () => (await rowOf(survivor, analysisId)).status === 'done', 25_000);
        const takeoverMs = Date.now() - killedAt;
        expect(takeoverMs).toBeLessThan(20_000);
        const row = await rowOf(survivor, analysisId);
        expect(row.attempts).toBe(2);
        expect(row.claimedBy).toBe(survivor.dispatcher.instanceId);
        await until(async () => posted.length > 0, 5_000);
        // Nobody else awaits it: the survivor's channel posts it, once.
        expect(posted).toHaveLength(1);
        expect(posted[0].followUpPending).toBe(false);
      } finally {
        await survivor.close();
      }
    } finally {
      child.kill('SIGKILL');
      await requester.close();
    }
  }, 60_000);

  it('the heartbeat keeps a long analysis with its process: no other process takes it', async () => {
    const slow = new FixtureWorker();
    slow.state.delayMs = 2_500;
    const other = new FixtureWorker();
    const a = await createServices(config(), { backend: slow, pollMs: 100, leaseMs: 600, logger: silentLogger });
    const b = await createServices(config(), { backend: other, pollMs: 100, leaseMs: 600, concurrency: 0, logger: silentLogger });
    try {
      // b takes no new work, but sweeps expired leases every 100 ms.
      const pending = await run(a, actor('alice'), 'explain', { prompt: 'Longer than four leases' });
      const done = (await pending.followUp!) as AnalysisView;
      expect(done.status).toBe('done');
      const row = await rowOf(a, done.analysisId);
      expect(row.attempts).toBe(1);
      expect(row.claimedBy).toBe(a.dispatcher.instanceId);
      expect(other.requests).toHaveLength(0);
    } finally {
      await b.close();
      await a.close();
    }
  });

  it('a process whose claim was taken over stops the work and writes nothing', async () => {
    const hanging = new FixtureWorker();
    hanging.state.mode = 'hang';
    const a = await createServices(config(), { backend: hanging, pollMs: 100, leaseMs: 600, logger: silentLogger });
    try {
      const pending = await run(a, actor('alice'), 'explain', { prompt: 'Taken over' });
      const analysisId = (pending.view as AnalysisView).analysisId;
      await until(async () => (await rowOf(a, analysisId)).status === 'running', 10_000);
      // What another process's takeover leaves: the row claimed by someone else.
      await a.database.db.execute(sql`update analyses set claimed_by = 'another-process', lease_until = now() + interval '1 hour' where id = ${analysisId}`);
      hanging.state.mode = 'up';
      await new Promise((r) => setTimeout(r, 1_500));
      const row = await rowOf(a, analysisId);
      expect(row).toMatchObject({ status: 'running', claimedBy: 'another-process', attempts: 1 });
      expect(hanging.requests).toHaveLength(1);
    } finally {
      await a.close();
    }
  });

  it('finished by another process, a result is posted once: by the process whose command awaits it', async () => {
    const a = await createServices(config(), { backend: new FixtureWorker(), pollMs: 100, concurrency: 0, logger: silentLogger });
    const b = await createServices(config(), { backend: new FixtureWorker(), pollMs: 100, logger: silentLogger });
    const events: Array<{ in: string; event: AnalysisFinishedEvent }> = [];
    a.events.onAnalysisFinished((event) => void events.push({ in: 'a', event }));
    b.events.onAnalysisFinished((event) => void events.push({ in: 'b', event }));
    try {
      const pending = await run(a, actor('alice'), 'explain', { prompt: 'Run by b, awaited by a' });
      const view = (await pending.followUp!) as AnalysisView;
      expect(view.status).toBe('done');
      expect((await rowOf(a, view.analysisId)).claimedBy).toBe(b.dispatcher.instanceId);
      await until(async () => events.length >= 2, 5_000);
      // A channel posts an event anew only when no follow-up is pending: here, never.
      expect(events.filter((e) => !e.event.followUpPending)).toEqual([]);
    } finally {
      await b.close();
      await a.close();
    }
  });

  it('a result left to a dead watcher is posted by another process when its finisher died too before the watch lapsed', async () => {
    const requester = await createServices(config(), { backend: null, logger: silentLogger });
    const queued = await run(requester, actor('alice'), 'explain', { prompt: 'Watcher and finisher both die' });
    const analysisId = (queued.view as AnalysisView).analysisId;
    await requester.database.db.execute(sql`update analyses set watched_by = 'dead-process', watched_until = now() + interval '1 second' where id = ${analysisId}`);
    const finisher = await createServices(config(), { backend: new FixtureWorker(), pollMs: 100, logger: silentLogger });
    const left: AnalysisFinishedEvent[] = [];
    finisher.events.onAnalysisFinished((e) => void (e.analysisId === analysisId && left.push(e)));
    await until(async () => left.length >= 1, 10_000);
    expect(left.map((e) => e.followUpPending)).toEqual([true]);
    // The finisher stops before its recheck: nothing in it will post the result now.
    await finisher.close();
    const other = await createServices(config(), { backend: new FixtureWorker(), pollMs: 100, concurrency: 0, logger: silentLogger });
    const posted: AnalysisFinishedEvent[] = [];
    other.events.onAnalysisFinished((e) => void (e.analysisId === analysisId && posted.push(e)));
    try {
      await until(async () => posted.length >= 1, 10_000);
      expect(posted.map((e) => [e.followUpPending, e.view.kind === 'analysis' && e.view.status])).toEqual([[false, 'done']]);
      expect((await rowOf(other, analysisId)).watchedBy).toBeNull();
    } finally {
      await other.close();
      await requester.close();
    }
  });

  it('a result awaited by a process that died before showing it is posted by the finisher once the watch lapses', async () => {
    const requester = await createServices(config(), { backend: null, logger: silentLogger });
    const queued = await run(requester, actor('alice'), 'explain', { prompt: 'Awaited by a process that dies' });
    const analysisId = (queued.view as AnalysisView).analysisId;
    // What a process that died while its command waited leaves: a watch nobody will renew.
    await requester.database.db.execute(sql`update analyses set watched_by = 'dead-process', watched_until = now() + interval '1 second' where id = ${analysisId}`);
    const b = await createServices(config(), { backend: new FixtureWorker(), pollMs: 100, logger: silentLogger });
    const events: AnalysisFinishedEvent[] = [];
    b.events.onAnalysisFinished((e) => void (e.analysisId === analysisId && events.push(e)));
    try {
      await until(async () => events.length >= 2, 10_000);
      expect(events.map((e) => e.followUpPending)).toEqual([true, false]);
      await new Promise((r) => setTimeout(r, 1_500));
      expect(events).toHaveLength(2);
    } finally {
      await b.close();
      await requester.close();
    }
  });
});
