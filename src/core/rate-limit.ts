/**
 * The per-user rate limit shared by every command marked `rateLimited` (the ones that cost
 * worker time: explain, retry): a sliding window of one minute, kept in the database (the
 * rate_limits table), so N bot processes enforce one limit, not N.
 *
 * One conditional upsert per use: unless the window is full, it drops the key's uses older than
 * a minute and appends this one. Concurrent uses of one key wait on that row's lock, so the
 * count is exact.
 */
import { sql, type SQL } from 'drizzle-orm';
import { queryRows, type Queryable } from '../../db';

export class RateLimiter {
  constructor(
    private readonly db: Queryable,
    private readonly perMinute: number,
    /** Injectable for tests; the database's clock by default, one clock for every process. */
    private readonly now?: () => number,
  ) {}

  /** Counts one use for `key`; returns how long to wait (ms) when over the limit, else 0. */
  async take(key: string): Promise<number> {
    const at: SQL = this.now ? sql`${new Date(this.now()).toISOString()}::timestamptz` : sql`now()`;
    const window = sql`(select array_agg(u order by u) from unnest(r.uses) u where u > ${at} - interval '1 minute')`;
    const taken = await queryRows<{ key: string }>(
      this.db,
      sql`insert into rate_limits as r (key, uses) values (${key}, array[${at}])
          on conflict (key) do update set uses = coalesce(${window}, '{}') || ${at}
          where coalesce(cardinality(${window}), 0) < ${this.perMinute}
          returning r.key`,
    );
    if (taken.length > 0) return 0;
    // Refused: the window frees up a minute after its oldest use.
    const [row] = await queryRows<{ wait_ms: number | string | null }>(
      this.db,
      sql`select extract(epoch from (min(u) + interval '1 minute' - ${at})) * 1000 as wait_ms
          from rate_limits r, unnest(r.uses) u where r.key = ${key} and u > ${at} - interval '1 minute'`,
    );
    return Math.max(1, Math.ceil(Number(row?.wait_ms ?? 1)));
  }

  get limit(): number {
    return this.perMinute;
  }
}
