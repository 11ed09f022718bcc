/**
 * The per-user rate limit lives in the database: N per minute per key, a clear wait time when
 * over, and one limit for every process sharing the database (two connections racing here, as
 * two bot processes would).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../db';
import { RateLimiter } from '../../src/core/rate-limit';
import { createTestDatabase, STORAGE_KINDS, testConfig, type TestDatabase } from '../db/support';
import { createServices } from '../../src/core/app';
import { actor, run } from './helpers';
import { silentLogger } from '../../src/log';

for (const { kind, skip } of STORAGE_KINDS) {
  describe.skipIf(skip)(`rate limit on ${kind}`, () => {
    let database: TestDatabase;
    let first: Database;
    beforeAll(async () => {
      database = await createTestDatabase(kind);
      first = await openDatabase(database.target);
    });
    afterAll(async () => {
      await first?.close();
      await database?.drop();
    });

    it('allows N per minute per key, then says how long to wait', async () => {
      let now = Date.parse('2026-01-01T00:00:00Z');
      const start = now;
      const limiter = new RateLimiter(first.db, 2, () => now);
      expect(await limiter.take('a')).toBe(0);
      now = start + 10_000;
      expect(await limiter.take('a')).toBe(0);
      expect(await limiter.take('b')).toBe(0);
      now = start + 20_000;
      expect(await limiter.take('a')).toBe(40_000);
      // A refused use does not count: the window still ends a minute after the first use.
      now = start + 60_001;
      expect(await limiter.take('a')).toBe(0);
      expect(await limiter.take('a')).toBe(10_000 + 60_000 - 60_001);
    });

    it('two processes on one database enforce one limit, even racing', async () => {
      // PGlite is one process's database: the race is between two users of one connection there.
      const second = kind === 'postgres' ? await openDatabase(database.target) : first;
      try {
        const limiters = [new RateLimiter(first.db, 5), new RateLimiter(second.db, 5)];
        const waits = await Promise.all(Array.from({ length: 16 }, (_, i) => limiters[i % 2].take('shared')));
        expect(waits.filter((w) => w === 0)).toHaveLength(5);
        for (const w of waits.filter((x) => x > 0)) expect(w).toBeLessThanOrEqual(60_000);
      } finally {
        if (second !== first) await second.close();
      }
    });

    it('/explain over the limit is refused with the wait, across two services on one database', async () => {
      // Its own database: a PGlite folder opens once per process, and `first` holds this one.
      const own = await createTestDatabase(kind);
      const config = testConfig(own.target, { CONFAB_RATE_LIMIT_PER_MINUTE: '2' });
      const a = await createServices(config, { logger: silentLogger });
      const b = kind === 'postgres' ? await createServices(config, { logger: silentLogger }) : a;
      try {
        const who = actor('limited');
        expect((await run(a, who, 'explain', { prompt: 'one' })).view.kind).toBe('analysis');
        expect((await run(b, who, 'explain', { prompt: 'two' })).view.kind).toBe('analysis');
        const third = await run(b, who, 'explain', { prompt: 'three' });
        expect(third.view).toMatchObject({ kind: 'error', code: 'rate_limited' });
        expect((third.view as { message: string }).message).toMatch(/^You can run 2 analyses a minute; try again in \d+ s\.$/);
      } finally {
        if (b !== a) await b.close();
        await a.close();
        await own.drop();
      }
    });
  });
}
