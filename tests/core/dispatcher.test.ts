/**
 * The dispatcher's failure paths and restarts, on a real database: a worker that is down or
 * times out leaves a failed, retryable analysis; a stop or crash leaves work that the next start
 * finishes; several processes on one PostgreSQL never run the same analysis twice.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { openDatabase, queryRows } from '../../db';
import { analyses } from '../../db/schema';
import { createServices, type Services } from '../../src/core/app';
import type { AnalysisFinishedEvent } from '../../src/core/services';
import type { AnalysisView } from '../../src/core/view';
import { createTestDatabase, STORAGE_KINDS, testConfig, type TestDatabase } from '../db/support';
import { FixtureWorker } from './fixture-worker';
import { actor, run, runError } from './helpers';
import { silentLogger } from '../../src/log';

function nextFinished(services: Services, analysisId: number): Promise<AnalysisFinishedEvent> {
  return new Promise((resolve) => {
    const off = services.events.onAnalysisFinished((event) => {
      if (event.analysisId === analysisId) {
        off();
        resolve(event);
      }
    });
  });
}

async function statusOf(services: Services, analysisId: number) {
  const [row] = await services.database.db.select().from(analyses).where(eq(analyses.id, analysisId));
  return row;
}

for (const { kind, skip } of STORAGE_KINDS) {
  describe.skipIf(skip)(`dispatcher on ${kind}`, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(kind);
    });
    afterAll(async () => {
      await database?.drop();
    });
    const config = (env: Record<string, string> = {}) => testConfig(database.target, { CONFAB_WORKER_TIMEOUT_MS: '400', ...env });

    it('marks an analysis failed when the worker is down, and /retry completes it', async () => {
      const worker = new FixtureWorker();
      worker.state.mode = 'down';
      const services = await createServices(config(), { backend: worker, pollMs: 100, logger: silentLogger });
      try {
        const pending = await run(services, actor('alice'), 'explain', { prompt: 'Down worker' });
        const failed = (await pending.followUp!) as AnalysisView;
        expect(failed).toMatchObject({ status: 'failed', retryable: true });
        expect(failed.error).toContain('The inference worker is unavailable');
        expect((await statusOf(services, failed.analysisId)).errorCode).toBe('worker_unavailable');

        worker.state.mode = 'up';
        const retried = await run(services, actor('bob'), 'retry', { analysis: failed.analysisId });
        // The dispatcher polls every 100 ms, so on a loaded machine it may claim the analysis
        // between the retry's update and the view it reads back: either state is honest.
        expect(retried.view).toMatchObject({ kind: 'analysis' });
        expect(['queued', 'running']).toContain((retried.view as AnalysisView).status);
        const done = (await retried.followUp!) as AnalysisView;
        expect(done.status).toBe('done');
        expect(done.positions[0].explanations).toHaveLength(1);
        const row = await statusOf(services, failed.analysisId);
        expect(row.attempts).toBe(2);
        expect(row.error).toBeNull();
        expect(await runError(services, actor('bob'), 'retry', { analysis: failed.analysisId })).toMatchObject({ code: 'not_failed' });
      } finally {
        await services.close();
      }
    });

    it('marks an analysis failed when the worker times out, and the retry succeeds', async () => {
      const worker = new FixtureWorker();
      worker.state.mode = 'hang';
      const services = await createServices(config(), { backend: worker, pollMs: 100, logger: silentLogger });
      try {
        const started = Date.now();
        const failed = (await (await run(services, actor('alice'), 'explain', { prompt: 'Slow worker' })).followUp!) as AnalysisView;
        expect(Date.now() - started).toBeLessThan(5_000);
        expect(failed).toMatchObject({ status: 'failed', retryable: true });
        expect(failed.error).toBe('The inference worker did not answer within 400 ms. Try /retry when it is less busy.');
        worker.state.mode = 'up';
        const done = (await (await run(services, actor('alice'), 'retry', { analysis: failed.analysisId })).followUp!) as AnalysisView;
        expect(done.status).toBe('done');
      } finally {
        await services.close();
      }
    });

    it('resumes an analysis that was queued when the process stopped', async () => {
      // No backend: the analysis is queued and stays queued, as when the process stops first.
      const first = await createServices(config(), { backend: null, logger: silentLogger });
      const pending = await run(first, actor('alice'), 'explain', { prompt: 'Queued across a restart' });
      const analysisId = (pending.view as AnalysisView).analysisId;
      expect(pending.followUp).toBeUndefined();
      await first.close();

      const worker = new FixtureWorker();
      const release = worker.hold();
      const second = await createServices(config(), { backend: worker, pollMs: 100, logger: silentLogger });
      try {
        const finished = nextFinished(second, analysisId);
        release();
        const event = await finished;
        expect(event).toMatchObject({ analysisId, platform: 'terminal', workspaceId: 'local', channelId: 'main', followUpPending: false });
        expect((event.view as AnalysisView).status).toBe('done');
      } finally {
        await second.close();
      }
    });

    it('puts a running analysis back in the queue at stop, and finishes it after the restart', async () => {
      const worker = new FixtureWorker();
      worker.state.mode = 'hang';
      const first = await createServices(config({ CONFAB_WORKER_TIMEOUT_MS: '60000' }), { backend: worker, pollMs: 100, logger: silentLogger });
      const pending = await run(first, actor('alice'), 'explain', { prompt: 'Running at stop' });
      const analysisId = (pending.view as AnalysisView).analysisId;
      while ((await statusOf(first, analysisId)).status !== 'running') await new Promise((r) => setTimeout(r, 20));
      await first.close();
      // The channel waiting on the follow-up is told, not left hanging.
      expect(await pending.followUp!).toMatchObject({ kind: 'message', tone: 'warning' });

      const resumed = new FixtureWorker();
      const release = resumed.hold();
      const second = await createServices(config(), { backend: resumed, pollMs: 100, logger: silentLogger });
      try {
        const finished = nextFinished(second, analysisId);
        release();
        const event = await finished;
        expect((event.view as AnalysisView).status).toBe('done');
        expect((await statusOf(second, analysisId)).attempts).toBe(1);
      } finally {
        await second.close();
      }
    });

    it('requeues a running analysis left by a crashed process once its lease has run out', async () => {
      const first = await createServices(config(), { backend: null, logger: silentLogger });
      const pending = await run(first, actor('alice'), 'explain', { prompt: 'Crashed mid-analysis' });
      const analysisId = (pending.view as AnalysisView).analysisId;
      // What a process that died mid-call leaves behind.
      await first.database.db.execute(
        sql`update analyses set status = 'running', attempts = 1, claimed_by = 'dead-process', lease_until = now() - interval '1 second' where id = ${analysisId}`,
      );
      await first.close();
      const resumed = new FixtureWorker();
      const release = resumed.hold();
      const second = await createServices(config(), { backend: resumed, pollMs: 100, logger: silentLogger });
      try {
        const finished = nextFinished(second, analysisId);
        release();
        const event = await finished;
        expect((event.view as AnalysisView).status).toBe('done');
        expect((await statusOf(second, analysisId)).attempts).toBe(2);
      } finally {
        await second.close();
      }
    });
  });
}

describe.skipIf(STORAGE_KINDS[1].skip)('several bot processes on one PostgreSQL', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('postgres');
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('runs every analysis exactly once', async () => {
    const config = testConfig(database.target);
    // Queue the work first, with no backend, then start two processes that race for it.
    const producer = await createServices(config, { backend: null, logger: silentLogger });
    const ids: number[] = [];
    for (let i = 0; i < 16; i++) ids.push(((await run(producer, actor(`p${i}`), 'explain', { prompt: `Shared queue ${i}` })).view as AnalysisView).analysisId);
    await producer.close();

    const workers = [new FixtureWorker(), new FixtureWorker()];
    // Both hold their first claims until both are listening, so each process gets work.
    const releases = workers.map((w) => w.hold());
    const finished = new Map<number, number>();
    const processes = await Promise.all(workers.map((backend) => createServices(config, { backend, concurrency: 3, pollMs: 50, logger: silentLogger })));
    try {
      await new Promise<void>((resolve) => {
        processes.forEach((p) =>
          p.events.onAnalysisFinished((event) => {
            finished.set(event.analysisId, (finished.get(event.analysisId) ?? 0) + 1);
            if (ids.every((id) => finished.has(id))) resolve();
          }),
        );
        releases.forEach((release) => release());
      });
      expect([...finished.values()].every((count) => count === 1)).toBe(true);
      expect(workers[0].requests.length + workers[1].requests.length).toBe(16);
      expect(workers[0].requests.length).toBeGreaterThan(0);
      expect(workers[1].requests.length).toBeGreaterThan(0);
      const rows = await queryRows<{ status: string; attempts: number }>(processes[0].database.db, sql`select status, attempts from analyses`);
      expect(rows.every((r) => r.status === 'done' && r.attempts === 1)).toBe(true);
    } finally {
      await Promise.all(processes.map((p) => p.close()));
    }
  });

  it("answers a command's follow-up when another process ran its analysis", async () => {
    const config = testConfig(database.target);
    const busyWorker = new FixtureWorker();
    const releaseBusy = busyWorker.hold();
    const a = await createServices(config, { backend: busyWorker, concurrency: 1, pollMs: 50, logger: silentLogger });
    let c: Services | undefined;
    try {
      // A is busy with one analysis (its worker holds it), so it cannot take the next.
      const first = await run(a, actor('alice'), 'explain', { prompt: 'Keeps A busy' });
      const firstId = (first.view as AnalysisView).analysisId;
      while ((await statusOf(a, firstId)).status !== 'running') await new Promise((r) => setTimeout(r, 20));
      const second = await run(a, actor('alice'), 'explain', { prompt: 'Run by another process' });
      const secondId = (second.view as AnalysisView).analysisId;
      // Another process with a free worker takes it.
      c = await createServices(config, { backend: new FixtureWorker(), pollMs: 50, logger: silentLogger });
      const view = (await second.followUp!) as AnalysisView;
      expect(view).toMatchObject({ analysisId: secondId, status: 'done' });
      expect(busyWorker.requests.map((r) => r.prompt)).toEqual(['Keeps A busy']);
      releaseBusy();
      expect(((await first.followUp!) as AnalysisView).status).toBe('done');
    } finally {
      releaseBusy();
      await Promise.all([a.close(), c?.close()]);
    }
  });

  it('applies migrations once when processes start together', async () => {
    const opened = await Promise.all([openDatabase(database.target), openDatabase(database.target), openDatabase(database.target)]);
    const [{ n }] = await queryRows<{ n: number }>(opened[0].db, sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
    expect(n).toBeGreaterThanOrEqual(1);
    await Promise.all(opened.map((d) => d.close()));
  });
});

describe('pending analyses and message references', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('pglite');
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('counts what is still pending per platform, and reports the remembered message', async () => {
    const { pendingAnalysisIds } = await import('../../src/cli/pending');
    const { setAnalysisMessageRef } = await import('../../src/core/analyses');
    const countPendingAnalyses = async (services: Services, platform: string) => (await pendingAnalysisIds(services, platform)).length;
    const rememberAnalysisMessage = (services: Services, analysisId: number, messageRef: string) => setAnalysisMessageRef(services.database.db, analysisId, messageRef);
    const config = testConfig(database.target);
    const first = await createServices(config, { backend: null, logger: silentLogger });
    const queued = await run(first, actor('alice'), 'explain', { prompt: 'Pending here' });
    const analysisId = (queued.view as AnalysisView).analysisId;
    expect(await countPendingAnalyses(first, 'terminal')).toBe(1);
    expect(await countPendingAnalyses(first, 'discord')).toBe(0);
    await rememberAnalysisMessage(first, analysisId, 'msg-123');
    await first.close();

    const worker = new FixtureWorker();
    const release = worker.hold();
    const second = await createServices(config, { backend: worker, pollMs: 50, logger: silentLogger });
    try {
      const finished = nextFinished(second, analysisId);
      release();
      expect((await finished).messageRef).toBe('msg-123');
      // Pending until the channel has shown it: posted_at is written once the listeners return.
      await vi.waitFor(async () => expect(await countPendingAnalyses(second, 'terminal')).toBe(0), { timeout: 5_000 });
    } finally {
      await second.close();
    }
  });
});
