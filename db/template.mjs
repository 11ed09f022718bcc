/**
 * The PGlite template: a migrated, empty data folder that `npm ci` builds once (scripts/build.mjs)
 * and that a new data folder is copied from, instead of running initdb in WebAssembly at the
 * user's first start (seconds, against a copy's fraction of one).
 *
 * A template is used only while its key matches: the PGlite version that made it (its on-disk
 * format) and the content of migrations/ (its schema). Plain JavaScript, because the build script
 * runs before anything compiles TypeScript; db/index.ts imports it too.
 */
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** PostgreSQL's marker of an initialised data folder; PGlite runs initdb when it is missing. */
export const PG_VERSION = 'PG_VERSION';
/** Inside the template: the key it was built for. Never copied into a data folder. */
export const TEMPLATE_KEY_FILE = 'confab-template-key.json';

/** The installed PGlite's version (its package.json is not in its exports, so found by path). */
export function pgliteVersion() {
  let dir = path.dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8'));
      if (pkg.name === '@electric-sql/pglite') return pkg.version;
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('the @electric-sql/pglite package.json was not found');
    dir = up;
  }
}

/** A hash of the migrations' SQL and drizzle-kit's journal and snapshots, by name and content. */
export function migrationsHash(migrationsFolder) {
  const h = createHash('sha256');
  for (const f of readdirSync(migrationsFolder, { recursive: true }).map(String).sort()) {
    if (f.endsWith('.sql') || f.endsWith('.json')) h.update(f).update(readFileSync(path.join(migrationsFolder, f)));
  }
  return h.digest('hex').slice(0, 16);
}

/** What a template must have been built for to be used now. */
export function templateKey(migrationsFolder) {
  return { pglite: pgliteVersion(), migrations: migrationsHash(migrationsFolder) };
}

/** True when `template` is a finished template built for `key`. */
export function templateMatches(template, key) {
  try {
    const built = JSON.parse(readFileSync(path.join(template, TEMPLATE_KEY_FILE), 'utf8'));
    return built.pglite === key.pglite && built.migrations === key.migrations && existsSync(path.join(template, PG_VERSION));
  } catch {
    return false;
  }
}

/**
 * Builds the template for the current key into `template`, unless one is there already.
 * Built beside it and renamed into place, so a reader never sees half a template. Resolves to
 * whether it built one.
 */
export async function buildPgliteTemplate(template, migrationsFolder) {
  const key = templateKey(migrationsFolder);
  if (templateMatches(template, key)) return false;
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const { migrate } = await import('drizzle-orm/pglite/migrator');
  const building = `${template}.building-${process.pid}-${randomBytes(3).toString('hex')}`;
  try {
    const client = await PGlite.create({ dataDir: building });
    try {
      await migrate(drizzle({ client }), { migrationsFolder });
    } finally {
      await client.close();
    }
    writeFileSync(path.join(building, TEMPLATE_KEY_FILE), `${JSON.stringify(key)}\n`);
    rmSync(template, { recursive: true, force: true });
    renameSync(building, template);
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return true;
}

/**
 * Copies the template into the data folder `dir` when it matches `key`; resolves to whether it
 * did. PG_VERSION goes last, under its own name only once complete: a copy cut short leaves a
 * folder without it, which the next start copies again. Each top-level entry the template has
 * is replaced whole (leftovers of a cut-short copy or initdb go); other names in `dir` are left.
 */
export function copyPgliteTemplate(template, dir, key) {
  if (!templateMatches(template, key)) return false;
  for (const name of readdirSync(template)) {
    if (name === PG_VERSION || name === TEMPLATE_KEY_FILE) continue;
    const target = path.join(dir, name);
    rmSync(target, { recursive: true, force: true });
    cpSync(path.join(template, name), target, { recursive: true });
  }
  const staged = path.join(dir, `${PG_VERSION}.copying`);
  cpSync(path.join(template, PG_VERSION), staged);
  renameSync(staged, path.join(dir, PG_VERSION));
  return true;
}
