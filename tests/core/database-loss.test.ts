/**
 * A PostgreSQL restart while Confab runs (its connections are cut): the command that was cut
 * says nothing was saved, the next one works on fresh connections, and no vote is half-written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import pg from 'pg';
import { votes } from '../../db/schema';
import { createServices, type Services } from '../../src/core/app';
import type { VoteAckView } from '../../src/core/view';
import { createTestDatabase, PG_URL, testConfig, type TestDatabase } from '../db/support';
import { FixtureWorker } from './fixture-worker';
import { actor, explainAndWait, explanationIds, run } from './helpers';
import { silentLogger } from '../../src/log';

describe.skipIf(!PG_URL)('database connections cut while running (PostgreSQL)', () => {
  let database: TestDatabase;
  let services: Services;
  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    services = await createServices(testConfig(database.target), { backend: new FixtureWorker(), logger: silentLogger });
  });
  afterAll(async () => {
    await services?.close();
    await database?.drop();
  });

  it('answers "nothing was saved" for the cut command and recovers for the next', async () => {
    const view = await explainAndWait(services, actor('alice'), { prompt: 'Survives a restart' });
    const [id] = explanationIds(view);
    const url = database.target.kind === 'postgres' ? database.target.url : '';
    const name = new URL(url).pathname.slice(1);

    // Hold the item's row lock from outside, so the vote waits inside the database; then cut
    // the vote's connection, as a server restart would.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query('begin');
    await admin.query('select id from explanations where id = $1 for update', [id]);
    const cut = run(services, actor('bob'), 'vote', { explanation: id, label: 'faithful' });
    let waiting: number | undefined;
    for (let i = 0; i < 200 && waiting === undefined; i++) {
      const r = await admin.query("select pid from pg_stat_activity where datname = $1 and wait_event_type = 'Lock' and pid <> pg_backend_pid()", [name]);
      waiting = r.rows[0]?.pid;
      if (waiting === undefined) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(waiting).toBeDefined();
    await admin.query('select pg_terminate_backend($1)', [waiting]);
    await admin.query('rollback');
    await admin.end();

    const answer = await cut;
    expect(answer.view).toMatchObject({ kind: 'error', code: 'database_unavailable' });
    expect((answer.view as { message: string }).message).toBe('The database is unavailable right now, so nothing was saved. Try again in a moment.');

    // The pool replaces the connection; the retried click is recorded once.
    const again = await run(services, actor('bob'), 'vote', { explanation: id, label: 'faithful' });
    expect((again.view as VoteAckView).change).toBe('recorded');
    const final = await run(services, actor('bob'), 'vote', { explanation: id, label: 'faithful' });
    expect((final.view as VoteAckView).change).toBe('unchanged');
    const rows = await services.database.db.select().from(votes).where(eq(votes.explanationId, id));
    expect(rows).toHaveLength(1);
  });
});
