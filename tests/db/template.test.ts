/**
 * The PGlite template (db/template.mjs): built once per PGlite version and migrations by the
 * build script's own function, and copied into a new data folder at open instead of initdb.
 *
 * A marker table added to the template after it is built tells a folder copied from it from
 * one made by initdb.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MIGRATIONS_FOLDER, openDatabase, queryRows, type Database } from '../../db';
import { buildPgliteTemplate, copyPgliteTemplate, PG_VERSION, TEMPLATE_KEY_FILE, templateKey, templateMatches } from '../../db/template.mjs';

const root = mkdtempSync(path.join(tmpdir(), 'confab-template-test-'));
const template = path.join(root, 'template');
/** A copy of the template whose key names other migrations. */
const staleTemplate = path.join(root, 'stale-template');
/** A folder made by initdb (the stale template is refused), for comparison. */
const initdbFolder = path.join(root, 'initdb');

const folder = (name: string) => path.join(root, name);

async function migrationRows(database: Database) {
  return queryRows<{ hash: string; created_at: string }>(database.db, sql`select hash, created_at::text from drizzle.__drizzle_migrations order by id`);
}

async function hasMarker(database: Database): Promise<boolean> {
  const [{ n }] = await queryRows<{ n: number }>(database.db, sql`select count(*)::int as n from information_schema.tables where table_name = 'template_marker'`);
  return n === 1;
}

async function withDatabase<T>(dir: string, use: (database: Database) => Promise<T>, pgliteTemplate = template): Promise<T> {
  const database = await openDatabase({ kind: 'pglite', dir }, { pgliteTemplate });
  try {
    return await use(database);
  } finally {
    await database.close();
  }
}

beforeAll(async () => {
  expect(await buildPgliteTemplate(template, MIGRATIONS_FOLDER)).toBe(true);
  const marker = await PGlite.create({ dataDir: template });
  await marker.exec('create table template_marker (id int)');
  await marker.close();
  cpSync(template, staleTemplate, { recursive: true });
  writeFileSync(path.join(staleTemplate, TEMPLATE_KEY_FILE), JSON.stringify({ ...templateKey(MIGRATIONS_FOLDER), migrations: '0000000000000000' }));
  // Made while the tests below run on the template: they need it only for comparison.
  await withDatabase(initdbFolder, async () => {}, staleTemplate);
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('the PGlite template', () => {
  it('is built once per key: PGlite version and migrations', async () => {
    expect(JSON.parse(readFileSync(path.join(template, TEMPLATE_KEY_FILE), 'utf8'))).toEqual(templateKey(MIGRATIONS_FOLDER));
    expect(await buildPgliteTemplate(template, MIGRATIONS_FOLDER)).toBe(false);
    expect(readdirSync(root).filter((name) => name.includes('.building-'))).toEqual([]);
    const key = templateKey(MIGRATIONS_FOLDER);
    expect(templateMatches(template, key)).toBe(true);
    expect(templateMatches(template, { ...key, pglite: '0.0.1' })).toBe(false);
    expect(templateMatches(template, { ...key, migrations: 'other' })).toBe(false);
  });

  it('starts a new folder: every migration applied as initdb would, and it takes writes', async () => {
    const dir = folder('new');
    const fromTemplate = await withDatabase(dir, async (database) => {
      expect(await hasMarker(database)).toBe(true);
      await database.db.execute(sql`insert into workspaces (platform, external_id, name) values ('terminal', 'local', 'written')`);
      return migrationRows(database);
    });
    const fromInitdb = await withDatabase(initdbFolder, migrationRows);
    const journal = JSON.parse(readFileSync(path.join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] };
    expect(fromTemplate).toHaveLength(journal.entries.length);
    expect(fromTemplate).toEqual(fromInitdb);
    expect(existsSync(path.join(dir, TEMPLATE_KEY_FILE))).toBe(false);
    // The write survives a restart.
    const names = await withDatabase(dir, (database) => queryRows<{ name: string }>(database.db, sql`select name from workspaces`));
    expect(names).toEqual([{ name: 'written' }]);
  });

  it('redoes a copy cut short: template files, one of them half written, and no PG_VERSION', async () => {
    const dir = folder('interrupted');
    cpSync(template, dir, { recursive: true });
    rmSync(path.join(dir, PG_VERSION));
    rmSync(path.join(dir, TEMPLATE_KEY_FILE));
    writeFileSync(path.join(dir, 'global', 'pg_control'), 'half');
    writeFileSync(path.join(dir, 'base', 'leftover'), 'from the copy before');
    writeFileSync(path.join(dir, `${PG_VERSION}.copying`), '1');
    const rows = await withDatabase(dir, async (database) => {
      expect(await hasMarker(database)).toBe(true);
      return migrationRows(database);
    });
    expect(rows).toEqual(await withDatabase(initdbFolder, migrationRows));
    expect(existsSync(path.join(dir, 'base', 'leftover'))).toBe(false);
    expect(existsSync(path.join(dir, `${PG_VERSION}.copying`))).toBe(false);
  });

  it('is not used when its key names other migrations: initdb makes the folder', async () => {
    // initdbFolder was opened with the stale template in beforeAll.
    await withDatabase(initdbFolder, async (database) => {
      expect(await hasMarker(database)).toBe(false);
      expect(await migrationRows(database)).toEqual(await withDatabase(folder('new'), migrationRows));
    });
  });

  it('never touches a folder that has PG_VERSION', async () => {
    const dir = folder('existing');
    cpSync(initdbFolder, dir, { recursive: true });
    writeFileSync(path.join(dir, 'postgresql.auto.conf'), `${readFileSync(path.join(dir, 'postgresql.auto.conf'), 'utf8')}# kept\n`);
    await withDatabase(dir, async (database) => expect(await hasMarker(database)).toBe(false));
    expect(readFileSync(path.join(dir, 'postgresql.auto.conf'), 'utf8')).toMatch(/# kept\n$/);
    expect(copyPgliteTemplate(template, dir, { pglite: 'x', migrations: 'y' })).toBe(false);
  });

  it('is not used when missing or when its key file is malformed, and leaves the folder as it was', () => {
    const key = templateKey(MIGRATIONS_FOLDER);
    const dir = folder('untouched');
    mkdirSync(dir);
    expect(copyPgliteTemplate(folder('no-such-template'), dir, key)).toBe(false);
    const broken = folder('broken-template');
    mkdirSync(broken);
    writeFileSync(path.join(broken, PG_VERSION), '17\n');
    for (const keyFile of ['', 'not json', '[]', '{"pglite": 1}']) {
      writeFileSync(path.join(broken, TEMPLATE_KEY_FILE), keyFile);
      expect(copyPgliteTemplate(broken, dir, key)).toBe(false);
    }
    // A key that matches but no PG_VERSION: a template whose build did not finish.
    writeFileSync(path.join(broken, TEMPLATE_KEY_FILE), JSON.stringify(key));
    rmSync(path.join(broken, PG_VERSION));
    expect(copyPgliteTemplate(broken, dir, key)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('is not built from migrations that fail, and the build script warns and goes on', async () => {
    const migrations = folder('bad-migrations');
    mkdirSync(path.join(migrations, 'meta'), { recursive: true });
    writeFileSync(path.join(migrations, '0000_bad.sql'), 'create tabel oops (id int);');
    writeFileSync(
      path.join(migrations, 'meta', '_journal.json'),
      JSON.stringify({ version: '7', dialect: 'postgresql', entries: [{ idx: 0, version: '7', when: 1, tag: '0000_bad', breakpoints: true }] }),
    );
    const dist = folder('bad-dist');
    mkdirSync(dist);
    // Plain JavaScript without type declarations: imported by URL.
    const { buildTemplate } = (await import(pathToFileURL(path.resolve('scripts/build.mjs')).href)) as { buildTemplate(dist: string, migrations: string): Promise<void> };
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      await buildTemplate(dist, migrations);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toMatch(/^\[build\] The database template was not built \(syntax error at or near "tabel"\); a new data folder will be created by initdb instead/);
    } finally {
      warn.mockRestore();
    }
    expect(readdirSync(dist)).toEqual([]);
  });
});
