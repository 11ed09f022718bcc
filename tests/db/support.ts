/**
 * Test databases. Every storage suite runs on PGlite and, when CONFAB_TEST_PG_URL names a
 * server, on PostgreSQL (skipped visibly otherwise).
 *
 * A new PGlite database costs 3-4 s (initdb in WASM; less when `npm ci` built dist/'s template),
 * so one migrated template is built per migrations version and copied for each test file (a copy
 * opens in ~0.3 s). Each PostgreSQL suite gets its own freshly created database, dropped at the
 * end, so suites never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { MIGRATIONS_FOLDER, openDatabase, type DatabaseTarget } from '../../db';
import { migrationsHash } from '../../db/template.mjs';
import { loadConfig, type Config } from '../../src/config';

export const PG_URL = process.env.CONFAB_TEST_PG_URL || undefined;

export type StorageKind = 'pglite' | 'postgres';
/** The kinds every storage suite runs on, with whether each is available here. */
export const STORAGE_KINDS: Array<{ kind: StorageKind; skip: boolean }> = [
  { kind: 'pglite', skip: false },
  { kind: 'postgres', skip: !PG_URL },
];

async function pgliteTemplate(): Promise<string> {
  const template = path.join(tmpdir(), `confab-pglite-template-${migrationsHash(MIGRATIONS_FOLDER)}`);
  if (existsSync(path.join(template, 'PG_VERSION'))) return template;
  const building = `${template}.building-${process.pid}-${randomBytes(3).toString('hex')}`;
  const database = await openDatabase({ kind: 'pglite', dir: building });
  await database.close();
  try {
    renameSync(building, template);
  } catch {
    // Another test process finished its template first; theirs is as good as ours.
    rmSync(building, { recursive: true, force: true });
  }
  return template;
}

export interface TestDatabase {
  target: DatabaseTarget;
  /** Removes the database (after the services using it are closed). */
  drop(): Promise<void>;
}

/** A new, migrated, empty database of the given kind. */
export async function createTestDatabase(kind: StorageKind): Promise<TestDatabase> {
  if (kind === 'pglite') {
    const root = mkdtempSync(path.join(tmpdir(), 'confab-test-'));
    const dir = path.join(root, 'pglite');
    cpSync(await pgliteTemplate(), dir, { recursive: true });
    return { target: { kind: 'pglite', dir }, drop: async () => rmSync(root, { recursive: true, force: true }) };
  }
  const serverUrl = process.env.CONFAB_TEST_PG_URL || PG_URL;
  if (!serverUrl) throw new Error('CONFAB_TEST_PG_URL is not set');
  const name = `confab_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    target: { kind: 'postgres', url: url.toString() },
    drop: async () => {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

/** A Config as `confab start` would build it, pointed at a test database. */
export function testConfig(target: DatabaseTarget, env: Record<string, string> = {}): Config {
  const config = loadConfig({ CONFAB_DATA_DIR: path.join(tmpdir(), 'confab-test-data'), ...env });
  return { ...config, database: target };
}
