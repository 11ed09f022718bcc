/**
 * A command that arrives while Confab is stopping is refused with that reason, not reported as
 * a database failure (the database is being closed on purpose), and nothing of it is stored.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, queryRows } from '../../db';
import { createServices } from '../../src/core/app';
import type { ErrorView } from '../../src/core/view';
import { silentLogger } from '../../src/log';
import { createTestDatabase, testConfig, type TestDatabase } from '../db/support';
import { actor, run } from '../core/helpers';

describe('commands while Confab is stopping', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('pglite');
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('are refused with "Confab is stopping", and store nothing', async () => {
    const services = await createServices(testConfig(database.target), { backend: null, logger: silentLogger });
    const before = await run(services, actor('alice'), 'stats');
    expect(before.view.kind).not.toBe('error');
    const closed = services.close();
    const during = await run(services, actor('alice'), 'explain', { prompt: 'Sent while stopping' });
    const after = await (async () => {
      await closed;
      return run(services, actor('alice'), 'explain', { prompt: 'Sent after stopping' });
    })();
    for (const result of [during, after]) {
      expect(result.view).toMatchObject({ kind: 'error', code: 'stopping' });
      expect((result.view as ErrorView).message).toMatch(/Confab is stopping, so nothing was saved/);
    }
    const reopened = await openDatabase(database.target);
    try {
      expect(await queryRows(reopened.db, sql`select id from analyses`)).toEqual([]);
    } finally {
      await reopened.close();
    }
  });
});
