/**
 * `confab start` shows its prompt before the models have loaded. An /explain sent meanwhile is
 * queued, the terminal says that the worker is starting, and the analysis is answered once the
 * models are in. Each test holds the real backend's load back until it has seen what happens
 * without it, so nothing depends on how fast the models load.
 */
import { cpSync } from 'node:fs';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { openDatabase } from '../../db';
import { analyses } from '../../db/schema';
import { createBackend, runStart, WORKER_STARTING_NOTICE } from '../../src/cli/start';
import type { LoadedBackend } from '../../src/cli/starting-backend';
import type { Config } from '../../src/config';
import type { Logger } from '../../src/log';
import { cleanUp, runConfab, tempDir } from './run-confab';

afterAll(cleanUp);

const TIMEOUT = 240_000;

/** A migrated data folder, copied for each test: creating one runs initdb in WebAssembly. */
let template = '';
beforeAll(async () => {
  template = tempDir('confab-starting-template-');
  const migrated = await runConfab(['migrate'], { env: { CONFAB_DATA_DIR: template } });
  expect(migrated.code, migrated.stderr).toBe(0);
}, TIMEOUT);

/** A stream that keeps what is written to it, and says when some text has arrived. */
function captured() {
  let text = '';
  const waiters = new Set<() => void>();
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      for (const check of waiters) check();
      done();
    },
  });
  return {
    stream,
    text: () => text,
    waitFor(piece: string): Promise<void> {
      return new Promise((resolve) => {
        const check = () => {
          if (!text.includes(piece)) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** A backend loader that starts loading only when `release` is called. */
function heldLoad(load: (config: Config, log: Logger) => Promise<LoadedBackend>) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  return {
    release: () => release(),
    loadBackend: async (config: Config, log: Logger) => {
      await gate;
      return load(config, log);
    },
  };
}

/** `confab start --local --as alice` in this process, with `lines` piped in. */
function startPiped(dataDir: string, lines: string, loadBackend: (config: Config, log: Logger) => Promise<LoadedBackend>) {
  const stdin = new PassThrough();
  const stdout = captured();
  const stderr = captured();
  const env = { CONFAB_DATA_DIR: dataDir, CONFAB_ENGINE_THREADS: '1', CONFAB_LOG_LEVEL: 'warn', PATH: process.env.PATH };
  const running = runStart({ values: { local: true, as: 'alice' }, positionals: [] }, { stdin, stdout: stdout.stream, stderr: stderr.stream, env }, loadBackend);
  stdin.end(lines);
  return { running, stdout, stderr };
}

describe('confab start while the models load', () => {
  it(
    'queues an /explain sent before the models loaded, says the worker is starting, and answers it once they have',
    async () => {
      const dataDir = tempDir('confab-starting-');
      cpSync(template, dataDir, { recursive: true });
      const held = heldLoad(createBackend);
      const session = startPiped(dataDir, '/explain Hola mundo\n', held.loadBackend);

      await session.stderr.waitFor(WORKER_STARTING_NOTICE);
      await session.stdout.waitFor('Analysis 1 · queued');
      expect(session.stdout.text()).not.toContain('Analysis 1 · done');

      held.release();
      expect(await session.running).toBe(0);
      const out = session.stdout.text();
      expect(out.indexOf('Analysis 1 · done')).toBeGreaterThan(out.indexOf('Analysis 1 · queued'));
      expect(out).toContain('vote: /vote #1 faithful|confabulated|unsure [note]');
      // Said once, for the one analysis that had to wait.
      expect(session.stderr.text().split(WORKER_STARTING_NOTICE)).toHaveLength(2);
    },
    TIMEOUT,
  );

  it(
    'stops with the load error when the models cannot load, and leaves the waiting analysis queued for the next start',
    async () => {
      const dataDir = tempDir('confab-starting-');
      cpSync(template, dataDir, { recursive: true });
      const missing = path.join(dataDir, 'no-models', 'manifest.yaml');
      const held = heldLoad((config, log) => createBackend({ ...config, worker: { ...config.worker, modelsPath: missing } }, log));
      const session = startPiped(dataDir, '/explain Hola mundo\n', held.loadBackend);

      await session.stdout.waitFor('Analysis 1 · queued');
      held.release();
      await expect(session.running).rejects.toThrow(missing);
      expect(session.stdout.text()).not.toContain('Analysis 1 · done');
      expect(session.stdout.text()).not.toContain('failed');

      const database = await openDatabase({ kind: 'pglite', dir: path.join(dataDir, 'pglite') });
      try {
        const [row] = await database.db.select({ status: analyses.status }).from(analyses).where(eq(analyses.id, 1));
        expect(row.status).toBe('queued');
      } finally {
        await database.close();
      }
    },
    TIMEOUT,
  );
});
