/**
 * The database module: the one place that opens a connection. Embedded PGlite in the data
 * directory by default; node-postgres when DATABASE_URL names a server. Both get the same
 * drizzle-kit migrations, applied at open, and the same typed drizzle handle.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import type { ExtractTablesWithRelations, SQL } from 'drizzle-orm';
import { maskSecrets } from '../src/log';
import { LOCK_STALE_MS, LockRefused, lockPath, takeFolderLock } from './lock';
import * as schema from './schema';
import { copyPgliteTemplate, templateKey } from './template.mjs';

export { schema };

export type DatabaseTarget = { kind: 'pglite'; dir: string } | { kind: 'postgres'; url: string };

/** The typed drizzle handle core code uses; identical for both drivers. */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;
export type Tx = PgTransaction<PgQueryResultHKT, typeof schema, ExtractTablesWithRelations<typeof schema>>;
/** Either the database or a transaction: what query helpers accept. */
export type Queryable = Db | Tx;

/** Runs raw SQL and returns its rows; both drivers answer `{rows}`. */
export async function queryRows<T>(db: Queryable, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as { rows: T[] };
  return result.rows;
}

export interface Database {
  db: Db;
  kind: 'pglite' | 'postgres';
  /** Where it is, safe to print: the PGlite directory, or the URL without its password. */
  target: string;
  close(): Promise<void>;
}

/** Raised when the database cannot be opened at start. The message is for the person running Confab. */
export class DatabaseUnavailableError extends Error {
  constructor(
    readonly target: string,
    readonly reason: string,
  ) {
    super(`The database at ${target} is unavailable: ${reason}`);
    this.name = 'DatabaseUnavailableError';
  }
}

export const MIGRATIONS_FOLDER = path.resolve(import.meta.dirname, '..', 'migrations');
/** The migrated empty data folder that `npm ci` builds (scripts/build.mjs); see template.mjs. */
export const PGLITE_TEMPLATE = path.resolve(import.meta.dirname, '..', 'dist', 'pglite-template');

export interface OpenOptions {
  /**
   * For a one-shot command that reads the whole database and exits (`confab dataset export`):
   * embedded PGlite gets a smaller buffer cache. It changes nothing for PostgreSQL.
   */
  lowMemory?: boolean;
  /** How long a PGlite lock may go without its heartbeat before it is taken over (tests). */
  lockStaleMs?: number;
  /** The template a new PGlite folder is copied from (default PGLITE_TEMPLATE; tests). */
  pgliteTemplate?: string;
}

export async function openDatabase(target: DatabaseTarget, options: OpenOptions = {}): Promise<Database> {
  return target.kind === 'pglite' ? openPglite(target.dir, options) : openPostgres(target.url);
}

/** PGlite directories open in this process. */
const openHere = new Set<string>();

async function takePgliteLock(dir: string, staleMs: number, onLost: (reason: string) => void): Promise<() => Promise<void>> {
  const file = lockPath(dir);
  if (openHere.has(file)) throw new DatabaseUnavailableError(dir, 'it is already open in this process.');
  openHere.add(file);
  try {
    const release = await takeFolderLock(dir, staleMs, onLost);
    return async () => {
      openHere.delete(file);
      await release().catch(() => {});
    };
  } catch (e) {
    openHere.delete(file);
    if (e instanceof LockRefused && e.held) {
      throw new DatabaseUnavailableError(
        dir,
        `it is in use by another Confab process (its lock ${file} stayed fresh for ${Math.round(staleMs / 1000)} s). Stop that process, or set CONFAB_DATA_DIR to another directory.`,
      );
    }
    throw new DatabaseUnavailableError(dir, `could not take the lock ${file} (${describe(e)}).`);
  }
}

/**
 * PGlite's buffer cache. PostgreSQL's default, 128 MB, lives in the WebAssembly memory, which
 * never shrinks, and fills on any large read; the files PGlite reads go through the operating
 * system's page cache anyway. A one-shot export reads once and takes less still; votes are
 * cheaper with the larger one (BENCHMARKS.md "Dataset").
 */
const PGLITE_SHARED_BUFFERS = { default: '16MB', lowMemory: '4MB' };

async function openPglite(dir: string, options: OpenOptions): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const { migrate } = await import('drizzle-orm/pglite/migrator');
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new DatabaseUnavailableError(dir, `the directory cannot be created (${(e as Error).message}).`);
  }
  let client: InstanceType<typeof PGlite> | undefined;
  const release = await takePgliteLock(dir, options.lockStaleMs ?? LOCK_STALE_MS, (reason) => {
    // Another process took the directory over (this one stalled past the heartbeat): stop
    // writing to it rather than corrupt it.
    process.stderr.write(`Confab lost the lock on ${dir} (${reason}); closing the database.\n`);
    void client?.close().catch(() => {});
  });
  const fresh = !existsSync(path.join(dir, 'PG_VERSION'));
  if (fresh) {
    try {
      // Without a template for this PGlite and these migrations, PGlite runs initdb as before.
      copyPgliteTemplate(options.pgliteTemplate ?? PGLITE_TEMPLATE, dir, templateKey(MIGRATIONS_FOLDER));
    } catch (e) {
      await release();
      throw new DatabaseUnavailableError(dir, `the database could not be created (${describe(e)}). Check that the directory is writable.`);
    }
  }
  try {
    client = await PGlite.create({ dataDir: dir, startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${options.lowMemory ? PGLITE_SHARED_BUFFERS.lowMemory : PGLITE_SHARED_BUFFERS.default}`] });
  } catch (e) {
    await release();
    throw new DatabaseUnavailableError(
      dir,
      `${fresh ? 'the database could not be created' : 'the data directory could not be opened; it may be corrupt or from another PGlite version'} (${describe(e)}). Move it aside to start with an empty database.`,
    );
  }
  const db = drizzle({ client, schema });
  try {
    await migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
  } catch (e) {
    await client.close().catch(() => {});
    await release();
    throw new DatabaseUnavailableError(dir, `applying migrations failed (${describe(e)}).`);
  }
  let closed = false;
  return {
    db: db as unknown as Db,
    kind: 'pglite',
    target: dir,
    async close() {
      if (closed) return;
      closed = true;
      try {
        await client.close();
      } finally {
        await release();
      }
    },
  };
}

// Several bot processes may start together against one server; drizzle's migrator is not
// safe to run concurrently, so it runs under a session-level advisory lock.
const MIGRATION_LOCK_KEY = 0x636f6e66; // "conf"

async function openPostgres(url: string): Promise<Database> {
  const target = maskSecrets(url);
  const pg = (await import('pg')).default;
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const { migrate } = await import('drizzle-orm/node-postgres/migrator');
  let pool: InstanceType<typeof pg.Pool>;
  try {
    pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 10_000 });
  } catch (e) {
    throw new DatabaseUnavailableError(target, `the URL is not valid (${describe(e)}).`);
  }
  // A dropped idle connection must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  let connection;
  try {
    connection = await pool.connect();
  } catch (e) {
    await pool.end().catch(() => {});
    throw new DatabaseUnavailableError(target, `cannot connect (${describe(e)}).`);
  }
  try {
    await connection.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await migrate(drizzle({ client: connection, schema }), { migrationsFolder: MIGRATIONS_FOLDER });
    await connection.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    connection.release();
  } catch (e) {
    connection.release(true);
    await pool.end().catch(() => {});
    throw new DatabaseUnavailableError(target, `applying migrations failed (${describe(e)}).`);
  }
  const db = drizzle({ client: pool, schema });
  let closed = false;
  return {
    db: db as unknown as Db,
    kind: 'postgres',
    target,
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}

/** One line about a driver error: its code and message, never a stack. */
function describe(e: unknown): string {
  if (e instanceof AggregateError && e.errors.length > 0) return describe(e.errors[0]);
  const err = e as { code?: string; message?: string; cause?: unknown };
  const cause = err.cause as { code?: string; message?: string } | undefined;
  const code = err.code ?? cause?.code;
  const message = (cause?.message ?? err.message ?? String(e)).split('\n')[0];
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}
