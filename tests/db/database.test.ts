/**
 * Opening the database: migrations at open, the install secret and pseudonymous reviewer ids,
 * and a clear DatabaseUnavailableError (never a stack trace, never a password) when it cannot
 * be opened.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createHmac } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { DatabaseUnavailableError, MIGRATIONS_FOLDER, openDatabase, queryRows } from '../../db';
import { install, reviewers } from '../../db/schema';
import { Identity, loadInstallSecret, pseudonymFor } from '../../src/core/identity';
import { createTestDatabase, STORAGE_KINDS, type TestDatabase } from './support';

for (const { kind, skip } of STORAGE_KINDS) {
  describe.skipIf(skip)(`database on ${kind}`, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(kind);
    });
    afterAll(async () => {
      await database?.drop();
    });

    it('has every table after migration, and reopening applies nothing twice', async () => {
      const first = await openDatabase(database.target);
      const tables = await queryRows<{ table_name: string }>(
        first.db,
        sql`select table_name from information_schema.tables where table_schema = 'public' order by table_name`,
      );
      expect(tables.map((t) => t.table_name)).toEqual([
        'activations',
        'analyses',
        'channels',
        'digest_posts',
        'explanation_state_changes',
        'explanations',
        'install',
        'positions',
        'rate_limits',
        'review_locks',
        'reviewers',
        'sae_features',
        'settings',
        'tokens',
        'vote_history',
        'votes',
        'workspaces',
      ]);
      await first.close();
      const second = await openDatabase(database.target);
      try {
        const [{ n }] = await queryRows<{ n: number }>(second.db, sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
        const journal = JSON.parse(readFileSync(path.join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] };
        expect(n).toBe(journal.entries.length);
      } finally {
        await second.close();
      }
    });

    it('keeps one install secret across restarts, and derives stable pseudonyms from it', async () => {
      const first = await openDatabase(database.target);
      const secret = await loadInstallSecret(first.db, undefined);
      expect(secret).toMatch(/^[0-9a-f]{64}$/);
      const identity = new Identity(first.db, secret);
      const ids = await identity.resolve({ platform: 'discord', workspaceId: 'g1', channelId: 'c1', userId: '42', displayName: 'Ada', isAdmin: false });
      await first.close();

      const second = await openDatabase(database.target);
      expect(await loadInstallSecret(second.db, undefined)).toBe(secret);
      expect((await second.db.select().from(install)).length).toBe(1);
      const [row] = await second.db.select().from(reviewers).where(eq(reviewers.id, ids.reviewerId));
      const expected = createHmac('sha256', secret).update('discord:42').digest('hex').slice(0, 24);
      expect(row.pseudonym).toBe(expected);
      // A configured secret wins and is not stored.
      expect(await loadInstallSecret(second.db, 'configured-secret-0123456789')).toBe('configured-secret-0123456789');
      expect(pseudonymFor('configured-secret-0123456789', 'discord', '42')).not.toBe(expected);
      // Renaming keeps the row; the same user is one reviewer.
      const again = await new Identity(second.db, secret).resolve({ platform: 'discord', workspaceId: 'g2', channelId: 'c9', userId: '42', displayName: 'Ada L.', isAdmin: false });
      expect(again.reviewerId).toBe(ids.reviewerId);
      expect(again.workspaceId).not.toBe(ids.workspaceId);
      await second.close();
    });

    it('refuses a duplicate vote row at the database level', async () => {
      const d = await openDatabase(database.target);
      const error = await d.db
        .execute(sql`insert into votes (explanation_id, reviewer_id, label) values (1, 1, 'faithful'), (1, 1, 'unsure')`)
        .catch((e: unknown) => e as { cause?: { code?: string } });
      // 23503 (no explanation 1) or 23505 (duplicate): either way the database refused it.
      expect(['23503', '23505']).toContain((error as { cause?: { code?: string } }).cause?.code);
      await d.close();
    });
  });
}

describe('database unavailable at start', () => {
  const scratch = mkdtempSync(path.join(tmpdir(), 'confab-unavailable-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  const copies: TestDatabase[] = [];
  afterAll(async () => {
    for (const copy of copies) await copy.drop();
  });
  /** A migrated PGlite folder, copied from the template (creating one runs initdb, which is slow). */
  async function migratedPglite(): Promise<string> {
    const copy = await createTestDatabase('pglite');
    copies.push(copy);
    if (copy.target.kind !== 'pglite') throw new Error('expected PGlite');
    return copy.target.dir;
  }

  async function openError(target: Parameters<typeof openDatabase>[0], options?: Parameters<typeof openDatabase>[1]): Promise<DatabaseUnavailableError> {
    const error = await openDatabase(target, options).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DatabaseUnavailableError);
    const e = error as DatabaseUnavailableError;
    expect(e.message).not.toContain('\n    at ');
    return e;
  }

  it('names a refused PostgreSQL server without its password', async () => {
    const e = await openError({ kind: 'postgres', url: 'postgres://confab:hunter2secret@127.0.0.1:1/confab' });
    expect(e.message).toBe('The database at postgres://confab:***@127.0.0.1:1/confab is unavailable: cannot connect (connect ECONNREFUSED 127.0.0.1:1).');
    expect(e.message).not.toContain('hunter2secret');
  });

  it('names an unknown host', async () => {
    const e = await openError({ kind: 'postgres', url: 'postgresql://u:pw@no-such-host.invalid:5432/db' });
    expect(e.message).toContain('no-such-host.invalid');
    expect(e.message).toContain('ENOTFOUND');
    expect(e.message).not.toContain(':pw@');
  });

  it.skipIf(!process.env.CONFAB_TEST_PG_URL)('names a database that does not exist', async () => {
    const url = new URL(process.env.CONFAB_TEST_PG_URL!);
    url.pathname = '/confab_no_such_database';
    const e = await openError({ kind: 'postgres', url: url.toString() });
    expect(e.message).toContain('database "confab_no_such_database" does not exist');
  });

  it('refuses a PGlite directory whose lock is kept fresh, even when it holds our own PID (a process in another PID namespace)', async () => {
    const dir = path.join(scratch, 'held');
    mkdirSync(dir);
    // What a Confab in another container on the same volume leaves: its PID is 1 there, or
    // equals ours by chance, and it keeps its lock alive.
    writeFileSync(`${dir}.lock`, String(process.pid));
    const heartbeat = setInterval(() => utimesSync(`${dir}.lock`, new Date(), new Date()), 200);
    try {
      const e = await openError({ kind: 'pglite', dir }, { lockStaleMs: 6_000 });
      expect(e.message).toContain('it is in use by another Confab process');
      expect(e.message).toContain('CONFAB_DATA_DIR');
    } finally {
      clearInterval(heartbeat);
    }
    expect(readFileSync(`${dir}.lock`, 'utf8')).toBe(String(process.pid));
  }, 60_000);

  it('refuses a directory a live process holds, and takes it over within seconds once that process is SIGKILLed', async () => {
    const dir = await migratedPglite();
    const script = [
      `import { openDatabase } from ${JSON.stringify(path.resolve('db/index.ts'))};`,
      `await openDatabase({ kind: 'pglite', dir: ${JSON.stringify(dir)} }, { lockStaleMs: 6000 });`,
      `console.log('open');`,
      `setInterval(() => {}, 1000);`,
    ].join('\n');
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('open') && resolve());
        child.once('exit', (code) => reject(new Error(`the holder exited (${code}) before opening`)));
      });
      const e = await openError({ kind: 'pglite', dir }, { lockStaleMs: 6_000 });
      expect(e.message).toContain('it is in use by another Confab process');
      child.kill('SIGKILL');
      await once(child, 'exit');
      const started = Date.now();
      const database = await openDatabase({ kind: 'pglite', dir }, { lockStaleMs: 6_000 });
      // Within the stale time after the last heartbeat, plus a retry and the open itself.
      expect(Date.now() - started).toBeLessThan(15_000);
      // While it is open, a second open in this process is refused at once.
      const second = await openDatabase({ kind: 'pglite', dir }).then(
        () => null,
        (err: unknown) => err,
      );
      expect((second as Error).message).toContain('already open in this process');
      await database.close();
      expect(existsSync(`${dir}.lock`)).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  }, 180_000);

  it('keeps the lock while the holder\'s main thread is blocked (as PGlite blocks it creating a database)', async () => {
    const dir = await migratedPglite();
    const script = [
      `import { openDatabase } from ${JSON.stringify(path.resolve('db/index.ts'))};`,
      `await openDatabase({ kind: 'pglite', dir: ${JSON.stringify(dir)} }, { lockStaleMs: 6000 });`,
      // Blocked for longer than the stale time, as a long synchronous PostgreSQL call would be.
      `process.stdout.write('open\\n', () => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20000); process.exit(0); });`,
    ].join('\n');
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('open') && resolve());
        child.once('exit', (code) => reject(new Error(`the holder exited (${code}) before opening`)));
      });
      const e = await openError({ kind: 'pglite', dir }, { lockStaleMs: 6_000 });
      expect(e.message).toContain('it is in use by another Confab process');
    } finally {
      child.kill('SIGKILL');
    }
  }, 120_000);

  it('takes over a stale lock at once: a directory lock or an older version\'s lock file', async () => {
    const dir = await migratedPglite();
    const old = new Date(Date.now() - 60_000);
    for (const leave of [() => mkdirSync(`${dir}.lock`), () => writeFileSync(`${dir}.lock`, '12345')]) {
      leave();
      utimesSync(`${dir}.lock`, old, old);
      const database = await openDatabase({ kind: 'pglite', dir });
      expect(statSync(`${dir}.lock`).isDirectory()).toBe(true);
      await database.close();
      expect(existsSync(`${dir}.lock`)).toBe(false);
    }
  }, 120_000);

  it('opens for a low-memory export with a smaller buffer cache (in a child process, as the export runs)', async () => {
    const dir = await migratedPglite();
    // A directory created and migrated by a default open, then opened again with low memory.
    const writer = await openDatabase({ kind: 'pglite', dir });
    expect(await queryRows(writer.db, sql`show shared_buffers`)).toEqual([{ shared_buffers: '16MB' }]);
    await writer.close();
    const script = [
      `import { openDatabase, queryRows } from ${JSON.stringify(path.resolve('db/index.ts'))};`,
      `import { sql } from 'drizzle-orm';`,
      `const d = await openDatabase({ kind: 'pglite', dir: ${JSON.stringify(dir)} }, { lowMemory: true });`,
      `const [settings] = await queryRows(d.db, sql\`select current_setting('shared_buffers') as sb, (select count(*)::int from drizzle.__drizzle_migrations) as migrations\`);`,
      `await d.close();`,
      `console.log(JSON.stringify(settings));`,
    ].join('\n');
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    const journal = JSON.parse(readFileSync(path.join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] };
    expect(JSON.parse(child.stdout)).toEqual({ sb: '4MB', migrations: journal.entries.length });
  }, 120_000);

  it('explains a corrupt PGlite directory', async () => {
    const dir = path.join(scratch, 'corrupt');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'PG_VERSION'), 'not a version\n');
    writeFileSync(path.join(dir, 'postgresql.conf'), '\u0000\u0001garbage');
    const e = await openError({ kind: 'pglite', dir });
    expect(e.message).toContain('could not be opened; it may be corrupt');
    expect(e.message).toContain('Move it aside');
  }, 120_000);

  it('masks a password given as a query parameter, as the logger does', async () => {
    const e = await openError({ kind: 'postgres', url: 'postgres://confab@127.0.0.1:1/confab?password=hunter2secret' });
    expect(e.message).toContain('@127.0.0.1:1/confab?password=***');
    expect(e.message).not.toContain('hunter2secret');
  });
});
