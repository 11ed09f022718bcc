/**
 * The digest scheduler through real bot processes: exactly once per fire when two processes race
 * on one PostgreSQL, a crash between claim and post retried at the next start, and a catch-up
 * after downtime that posts only the latest missed fire, marked late.
 */
import { silentLogger } from '../../src/log';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseTarget } from '../../db';
import { digestPosts, settings } from '../../db/schema';
import { createServices } from '../../src/core/app';
import type { DigestEvent } from '../../src/core/digest/event';
import { digestSchedule, latestFire, periodOfFire } from '../../src/core/digest/spec';
import { createTestDatabase, STORAGE_KINDS, testConfig, type StorageKind, type TestDatabase } from '../db/support';
import { seedDigestHistory } from './seed';

const CHILD = path.resolve(import.meta.dirname, 'scheduler-process.ts');
const dropped: TestDatabase[] = [];
afterAll(async () => {
  for (const db of dropped) await db.drop();
});

/** A database with the seeded history and a digest configured, its settings dated `configuredAt`. */
async function databaseWithDigest(kind: StorageKind, schedule: string, configuredAt: Date): Promise<{ target: DatabaseTarget; workspaceId: number }> {
  const testDb = await createTestDatabase(kind);
  dropped.push(testDb);
  const database = await openDatabase(testDb.target);
  const { workspaceId } = await seedDigestHistory(database.db);
  await database.db.insert(settings).values([
    { workspaceId, key: 'digest_channel', value: 'channel:chan-digest', updatedAt: configuredAt },
    { workspaceId, key: 'digest_schedule', value: schedule, updatedAt: configuredAt },
  ]);
  await database.close();
  return { target: testDb.target, workspaceId };
}

interface ChildPost {
  pid: number;
  scheduledFor: string;
  label: string;
  late: boolean;
  channel: string;
}

/** Runs tests/digest/scheduler-process.ts; resolves with the digests it printed and how it ended. */
function runBot(target: DatabaseTarget, env: Record<string, string>): Promise<{ posts: ChildPost[]; signal: NodeJS.Signals | null; stderr: string }> {
  const dbEnv = target.kind === 'postgres' ? { DIGEST_DB_URL: target.url } : { DIGEST_DB_DIR: target.dir };
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], { env: { ...process.env, ...dbEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => {
    child.on('exit', (_code, signal) => {
      const posts = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as ChildPost);
      resolve({ posts, signal, stderr });
    });
  });
}

async function waitFor<T>(read: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const pg = STORAGE_KINDS.find((k) => k.kind === 'postgres')!;

describe.skipIf(pg.skip)('digest schedule: two processes on one PostgreSQL', () => {
  it('posts each fire of an every-2-seconds schedule exactly once', async () => {
    const { target, workspaceId } = await databaseWithDigest('postgres', '*/2 * * * * *', new Date(Date.now() - 60_000));
    const [a, b] = await Promise.all([runBot(target, { DIGEST_RUN_MS: '7000' }), runBot(target, { DIGEST_RUN_MS: '7000' })]);
    const posts = [...a.posts, ...b.posts];
    const fires = posts.map((p) => p.scheduledFor);
    expect(new Set(fires).size, `${a.stderr}${b.stderr}`).toBe(fires.length);
    expect(fires.length).toBeGreaterThanOrEqual(3);
    for (const p of posts) expect(new Date(p.scheduledFor).getUTCSeconds() % 2).toBe(0);
    const database = await openDatabase(target);
    const rows = await database.db.select().from(digestPosts).where(eq(digestPosts.workspaceId, workspaceId));
    await database.close();
    // Every claim was posted, by the process that claimed it, and nothing was claimed twice.
    expect(rows.map((r) => r.scheduledFor.toISOString()).sort()).toEqual([...fires].sort());
    expect(rows.every((r) => r.postedAt !== null && r.attempts === 1)).toBe(true);
  }, 180_000);
});

for (const { kind, skip } of STORAGE_KINDS) {
  describe.skipIf(skip)(`digest schedule (${kind})`, () => {
    it('retries at the next start a digest claimed by a process that crashed before posting', async () => {
      const { target, workspaceId } = await databaseWithDigest(kind, 'weekly', new Date(Date.now() - 30 * 86_400_000));
      const crashed = await runBot(target, { DIGEST_CRASH: '1', DIGEST_LEASE_MS: '500', DIGEST_RUN_MS: '20000' });
      expect(crashed.signal, crashed.stderr).toBe('SIGKILL');
      expect(crashed.posts).toEqual([]);
      const database = await openDatabase(target);
      const [claim] = await database.db.select().from(digestPosts).where(eq(digestPosts.workspaceId, workspaceId));
      expect(claim.postedAt).toBeNull();
      await database.close();
      await new Promise((r) => setTimeout(r, 600));

      const restarted = await runBot(target, { DIGEST_LEASE_MS: '500', DIGEST_RUN_MS: '2500' });
      expect(restarted.posts, restarted.stderr).toHaveLength(1);
      expect(restarted.posts[0].scheduledFor).toBe(claim.scheduledFor.toISOString());
      const after = await openDatabase(target);
      const rows = await after.db.select().from(digestPosts).where(eq(digestPosts.workspaceId, workspaceId));
      await after.close();
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ attempts: 2 });
      expect(rows[0].postedAt).not.toBeNull();
    }, 240_000);

    it('after downtime posts only the latest missed fire, marked late, and never again', async () => {
      const { target, workspaceId } = await databaseWithDigest(kind, 'weekly', new Date(Date.now() - 30 * 86_400_000));
      const received: DigestEvent[] = [];
      const open = () => createServices(testConfig(target), { logger: silentLogger });
      let services = await open();
      services.events.onDigest('discord', (event) => {
        received.push(event);
        return true;
      });
      await waitFor(() => (received.length > 0 ? received : undefined));
      // Four weekly fires were missed; only the latest is owed.
      const schedule = digestSchedule('weekly', 'UTC')!;
      const latest = latestFire(schedule, new Date())!;
      expect(received).toHaveLength(1);
      expect(received[0]).toMatchObject({ platform: 'discord', workspaceId: 'guild-digest', channelId: 'chan-digest', late: true });
      expect(received[0].scheduledFor.toISOString()).toBe(latest.toISOString());
      expect(received[0].digest.period.label).toBe(periodOfFire(schedule, latest).label);
      await services.close();

      // A restart owes nothing more.
      services = await open();
      services.events.onDigest('discord', (event) => {
        received.push(event);
        return true;
      });
      const { outcomes } = await (services as unknown as { digests: { runOnce(): Promise<{ outcomes: unknown[] }> } }).digests.runOnce();
      expect(outcomes).toEqual([]);
      await services.close();
      expect(received).toHaveLength(1);

      const database = await openDatabase(target);
      const rows = await database.db.select().from(digestPosts).where(eq(digestPosts.workspaceId, workspaceId));
      expect(rows).toHaveLength(1);
      expect(rows[0].late).toBe(true);
      // A schedule set up after the latest fire owes no catch-up at all.
      await database.db.update(settings).set({ updatedAt: sql`now()` }).where(and(eq(settings.workspaceId, workspaceId), eq(settings.key, 'digest_schedule')));
      await database.db.update(settings).set({ value: 'daily' }).where(and(eq(settings.workspaceId, workspaceId), eq(settings.key, 'digest_schedule')));
      await database.close();
      services = await open();
      services.events.onDigest('discord', (event) => {
        received.push(event);
        return true;
      });
      const second = await (services as unknown as { digests: { runOnce(): Promise<{ outcomes: unknown[] }> } }).digests.runOnce();
      await services.close();
      expect(second.outcomes).toEqual([]);
      expect(received).toHaveLength(1);
    }, 240_000);
  });
}
