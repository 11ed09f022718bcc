/**
 * The database module: the one place that opens a connection. Embedded PGlite in the data
 * directory by default; node-postgres when DATABASE_URL names a server. Both get the same
 * drizzle-kit migrations, applied at open, and the same typed drizzle handle.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import type { ExtractTablesWithRelations, SQL } from 'drizzle-orm';
import * as schema from './schema';

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

/** A PostgreSQL URL with its password replaced, for messages and logs. */
export function maskDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
  }
}

export interface OpenOptions {
  /**
   * For a one-shot command that reads the whole database and exits (`confab dataset export`):
   * embedded PGlite's WebAssembly stays on V8's baseline compiler (Liftoff) and is never tiered
   * up to the optimizing one (TurboFan), and its buffer cache is smaller. The optimized code and
   * its compilation cost the process 30-40 MB of RSS over an export; without them the export is
   * about 10% slower (BENCHMARKS.md "Dataset"). The compiler setting is process-wide, so a
   * long-running process never asks for it. It changes nothing for PostgreSQL.
   */
  lowMemory?: boolean;
}

export async function openDatabase(target: DatabaseTarget, options: OpenOptions = {}): Promise<Database> {
  return target.kind === 'pglite' ? openPglite(target.dir, options) : openPostgres(target.url);
}

// Two PGlite instances on one directory corrupt it (PGlite takes no lock of its own), so a
// second Confab process on the same data directory is refused instead.
function lockPath(dir: string): string {
  return `${path.resolve(dir)}.lock`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** PGlite directories open in this process (a lock file naming our own pid may be stale). */
const openHere = new Set<string>();

function takePgliteLock(dir: string): () => void {
  const file = lockPath(dir);
  if (openHere.has(file)) throw new DatabaseUnavailableError(dir, 'it is already open in this process.');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      openHere.add(file);
      return () => {
        openHere.delete(file);
        rmSync(file, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(file, 'utf8').trim());
      // Our own pid in the file is a lock left by an earlier run that had the same pid (PID 1
      // in a restarted container), not a live holder.
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
        throw new DatabaseUnavailableError(
          dir,
          `it is in use by another Confab process (pid ${pid}). Stop that process, or set CONFAB_DATA_DIR to another directory.`,
        );
      }
      // A stale lock from a process that died: take it over.
      rmSync(file, { force: true });
    }
  }
  throw new DatabaseUnavailableError(dir, `could not take the lock file ${file}.`);
}

/**
 * PGlite's buffer cache. PostgreSQL's default, 128 MB, lives in the WebAssembly memory, which
 * never shrinks, and fills on any large read: opening a 950 MB database for an export took the
 * process 100 MB higher than with 16 MB. The files PGlite reads go through the operating
 * system's page cache anyway. A low-memory open takes 4 MB: 15 MB less RSS over an export at
 * the same speed, where votes cost 5-8% more CPU than with 16 MB (BENCHMARKS.md "Dataset").
 */
const PGLITE_SHARED_BUFFERS = { default: '16MB', lowMemory: '4MB' };

async function openPglite(dir: string, options: OpenOptions): Promise<Database> {
  // Before PGlite compiles its module: V8 reads the flag when it compiles or tiers up a function.
  if (options.lowMemory) v8.setFlagsFromString('--liftoff-only');
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const { migrate } = await import('drizzle-orm/pglite/migrator');
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new DatabaseUnavailableError(dir, `the directory cannot be created (${(e as Error).message}).`);
  }
  const release = takePgliteLock(dir);
  const fresh = !existsSync(path.join(dir, 'PG_VERSION'));
  let client: InstanceType<typeof PGlite> | undefined;
  try {
    client = await PGlite.create({ dataDir: dir, startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${options.lowMemory ? PGLITE_SHARED_BUFFERS.lowMemory : PGLITE_SHARED_BUFFERS.default}`] });
  } catch (e) {
    release();
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
    release();
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
        release();
      }
    },
  };
}

// Several bot processes may start together against one server; drizzle's migrator is not
// safe to run concurrently, so it runs under a session-level advisory lock.
const MIGRATION_LOCK_KEY = 0x636f6e66; // "conf"

async function openPostgres(url: string): Promise<Database> {
  const target = maskDatabaseUrl(url);
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
