/**
 * A new reviewer's first clicks, arriving at once through several connections, resolve to one
 * reviewer row and never fail. On PostgreSQL the race is made to happen every time: a gate (an
 * index whose expression waits on an advisory lock, placed before the unique indexes) holds one
 * insert after its ON CONFLICT pre-check and before its index entries, while the other insert
 * completes. PGlite has one connection, so there it checks the same function serially.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { openDatabase, queryRows, schema, type Database, type Db } from '../../db';
import { Identity, pseudonymFor } from '../../src/core/identity';
import { createTestDatabase, STORAGE_KINDS, type TestDatabase } from './support';

type ActorLike = Parameters<Identity['resolve']>[0];
const SECRET = 'reviewer-upsert-secret';
const actor = (userId: string, displayName = userId): ActorLike => ({ platform: 'discord', workspaceId: 'g1', channelId: 'c1', userId, displayName, isAdmin: false });
const GATE_LOCK = 0x67617465;

for (const { kind, skip } of STORAGE_KINDS) {
  describe.skipIf(skip)(`reviewer upsert on ${kind}`, () => {
    let test: TestDatabase;
    let database: Database;
    beforeAll(async () => {
      test = await createTestDatabase(kind);
      database = await openDatabase(test.target);
    });
    afterAll(async () => {
      await database?.close();
      await test?.drop();
    });

    it('creates a reviewer once, keeps its id and pseudonym, and follows a display name change', async () => {
      const a = await new Identity(database.db, SECRET).resolve(actor('u1', 'Ada'));
      const b = await new Identity(database.db, SECRET).resolve(actor('u1', 'Ada Lovelace'));
      const many = await Promise.all(Array.from({ length: 8 }, () => new Identity(database.db, SECRET).resolve(actor('u2'))));
      expect(b.reviewerId).toBe(a.reviewerId);
      expect(new Set(many.map((m) => m.reviewerId)).size).toBe(1);
      const rows = await queryRows<{ user_id: string; display_name: string; pseudonym: string }>(
        database.db,
        sql`select user_id, display_name, pseudonym from reviewers order by user_id`,
      );
      expect(rows).toEqual([
        { user_id: 'u1', display_name: 'Ada Lovelace', pseudonym: pseudonymFor(SECRET, 'discord', 'u1') },
        { user_id: 'u2', display_name: 'u2', pseudonym: pseudonymFor(SECRET, 'discord', 'u2') },
      ]);
    });

    it('refuses, with a unique violation, a pseudonym that another platform id already has', async () => {
      await database.db.execute(sql`insert into reviewers (platform, user_id, display_name, pseudonym) values ('slack', 'U1', 'x', 'taken-pseudonym')`);
      await expect(database.db.execute(sql`select confab_upsert_reviewer('slack', 'U2', 'y', 'taken-pseudonym')`)).rejects.toMatchObject({
        cause: { code: '23505', message: expect.stringContaining('which another reviewer already has') },
      });
    });

    it.skipIf(kind !== 'postgres')('resolves two simultaneous first inserts of one new reviewer to one row, every time', async () => {
      if (test.target.kind !== 'postgres') return;
      const url = test.target.url;
      // The gate index comes before the unique indexes, which are rebuilt after it (same
      // definitions): PostgreSQL inserts index entries in the order the indexes were created.
      await database.db.execute(sql.raw(`
        create function confab_test_gate(p text) returns integer language plpgsql immutable as $$
        begin
          if current_setting('application_name') = 'gated' then
            perform pg_advisory_lock(${GATE_LOCK});
            perform pg_advisory_unlock(${GATE_LOCK});
          end if;
          return 0;
        end $$;
        create index reviewers_gate on reviewers (confab_test_gate(user_id));
        drop index reviewers_platform_user;
        create unique index reviewers_platform_user on reviewers (platform, user_id);
        drop index reviewers_pseudonym;
        create unique index reviewers_pseudonym on reviewers (pseudonym);`));
      const control = new pg.Client({ connectionString: url });
      const gated = new pg.Client({ connectionString: url, application_name: 'gated' });
      const free = new pg.Client({ connectionString: url });
      await Promise.all([control.connect(), gated.connect(), free.connect()]);
      try {
        // The workspace and channel exist, as they do for a team's second reviewer.
        await new Identity(database.db, SECRET).resolve(actor('first'));
        for (let round = 0; round < 3; round++) {
          const user = `newcomer-${round}`;
          await control.query('select pg_advisory_lock($1)', [GATE_LOCK]);
          const gatedPid = (await gated.query('select pg_backend_pid() as pid')).rows[0].pid as number;
          const slow = new Identity(drizzle({ client: gated, schema }) as unknown as Db, SECRET).resolve(actor(user)).then(
            (ids) => ({ ids }),
            (error: unknown) => ({ error }),
          );
          // Wait until the gated insert has passed its conflict check and waits at the gate.
          for (let waited = 0; ; waited += 20) {
            const { rows } = await control.query(`select 1 from pg_locks where pid = $1 and locktype = 'advisory' and not granted`, [gatedPid]);
            if (rows.length > 0) break;
            if (waited > 20_000) throw new Error('the gated insert never reached the gate');
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
          const fast = await new Identity(drizzle({ client: free, schema }) as unknown as Db, SECRET).resolve(actor(user));
          await control.query('select pg_advisory_unlock($1)', [GATE_LOCK]);
          const result = await slow;
          expect('error' in result ? String((result.error as { cause?: Error }).cause?.message ?? result.error) : null).toBeNull();
          expect('ids' in result && result.ids.reviewerId).toBe(fast.reviewerId);
        }
        const [{ n }] = await queryRows<{ n: number }>(database.db, sql`select count(*)::int as n from reviewers where user_id like 'newcomer-%'`);
        expect(n).toBe(3);
      } finally {
        await Promise.all([control.end(), gated.end(), free.end()]);
      }
    }, 60_000);
  });
}
