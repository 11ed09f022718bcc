/**
 * The PGlite data folder's lock. Two PGlite instances on one folder corrupt it (PGlite takes no
 * lock of its own), so a second process is refused. The lock is a directory created exclusively
 * beside the data folder and kept fresh by a heartbeat (proper-lockfile): it holds across
 * containers sharing a volume, where PIDs say nothing, and the lock of a killed holder goes
 * stale and is taken over.
 *
 * The heartbeat runs on a worker thread: PGlite runs PostgreSQL synchronously on the main
 * thread, and creating a database or a long query would otherwise stall the heartbeat past the
 * stale time and let another process in while this one still writes.
 */
import { rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

/** How long a lock may go without a heartbeat before it counts as left by a dead process. */
export const LOCK_STALE_MS = 15_000;
const LOCK_HEARTBEAT_MS = 1_000;

export function lockPath(dir: string): string {
  return `${path.resolve(dir)}.lock`;
}

/** Why the lock could not be taken: `held` when a live process keeps it fresh. */
export class LockRefused extends Error {
  constructor(
    readonly held: boolean,
    message: string,
  ) {
    super(message);
    this.name = 'LockRefused';
  }
}

// Evaluated in the worker (as CommonJS or as a module, as the process's --input-type says, so
// only dynamic imports): it takes the lock, reports, heartbeats, and releases on request.
const WORKER_SOURCE = `
(async () => {
const { parentPort, workerData } = await import('node:worker_threads');
const lockfile = (await import(workerData.module)).default;
lockfile
  .lock(workerData.dir, {
    lockfilePath: workerData.file,
    realpath: false,
    stale: workerData.staleMs,
    update: workerData.heartbeatMs,
    retries: workerData.retries,
    onCompromised: (e) => parentPort.postMessage({ type: 'lost', message: e.message }),
  })
  .then(
    (release) => {
      parentPort.postMessage({ type: 'locked' });
      parentPort.on('message', () => {
        release().then(
          () => parentPort.postMessage({ type: 'released' }),
          () => parentPort.postMessage({ type: 'released' }),
        );
      });
    },
    (e) => parentPort.postMessage({ type: 'refused', code: e.code, message: e.message }),
  );
})();
`;

/**
 * Takes the lock of a PGlite folder, waiting as long as a dead holder's lock takes to go stale
 * (so a restart right after a crash starts; a live holder keeps it fresh and is refused).
 * Resolves to its release; `onLost` is called if another process takes it over.
 */
export async function takeFolderLock(dir: string, staleMs: number, onLost: (reason: string) => void): Promise<() => Promise<void>> {
  const file = lockPath(dir);
  // Older versions wrote the lock as a plain file; a stale one is removed, a fresh one refuses.
  const legacy = statSync(file, { throwIfNoEntry: false });
  if (legacy?.isFile() && legacy.mtimeMs < Date.now() - staleMs) rmSync(file, { force: true });
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      module: pathToFileURL(createRequire(import.meta.url).resolve('proper-lockfile')).href,
      dir: path.resolve(dir),
      file,
      staleMs,
      heartbeatMs: LOCK_HEARTBEAT_MS,
      retries: { retries: Math.ceil(staleMs / 500) + 2, minTimeout: 500, maxTimeout: 500, factor: 1 },
    },
  });
  // The lock must not keep a finished process alive; its folder is then taken over when stale.
  worker.unref();
  const first = await new Promise<{ type: string; code?: string; message?: string }>((resolve) => {
    worker.once('message', resolve);
    worker.once('error', (e) => resolve({ type: 'refused', message: e.message }));
  });
  if (first.type !== 'locked') {
    await worker.terminate();
    throw new LockRefused(first.code === 'ELOCKED', first.message ?? 'the lock worker stopped');
  }
  worker.on('message', (m: { type: string; message?: string }) => {
    if (m.type === 'lost') onLost(m.message ?? 'the lock was taken over');
  });
  let released: Promise<void> | null = null;
  return () =>
    (released ??= new Promise<void>((resolve) => {
      worker.on('message', (m: { type: string }) => m.type === 'released' && resolve());
      worker.once('exit', () => resolve());
      worker.postMessage('release');
    }).then(() => worker.terminate().then(() => undefined)));
}
