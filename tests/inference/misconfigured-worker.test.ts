/**
 * A worker that refuses the bot's secret (401/403) is misconfigured, not a sign of bad input:
 * the pool marks it down with that reason and fails over, the analysis stays retryable, chat
 * users never see a worker URL, and the log says plainly which worker to fix.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices } from '../../src/core/app';
import type { AnalysisView } from '../../src/core/view';
import { createInferenceClient } from '../../src/inference';
import type { RuntimeEngine } from '../../src/worker/runtime/engine';
import type { WorkerServer } from '../../src/worker/server';
import { createTestDatabase, testConfig, type TestDatabase } from '../db/support';
import { actor, run } from '../core/helpers';
import { loadReferenceEngine, recordingLogger, SECRET, serve } from '../worker/http/reference-worker';
import { silentLogger } from '../../src/log';
import { doctorCommand } from '../../src/cli/doctor';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';

let engine: RuntimeEngine;
let database: TestDatabase;
const servers: WorkerServer[] = [];

beforeAll(async () => {
  engine = await loadReferenceEngine();
  database = await createTestDatabase('pglite');
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await engine?.close();
  await database?.drop();
});

async function worker(secret: string, port = 0): Promise<WorkerServer> {
  const server = await serve(engine, { secret, port });
  servers.push(server);
  return server;
}

describe('a worker with the wrong secret', () => {
  it('WORKER_URLS=bad,good: every analysis succeeds on the good worker, and the bad one is logged as misconfigured', async () => {
    const bad = await worker('not-the-bots-secret');
    const good = await worker(SECRET);
    const records: Array<Record<string, unknown>> = [];
    const client = createInferenceClient({ urls: [bad.url, good.url], secret: SECRET, timeoutMs: 20_000, logger: recordingLogger(records) });
    const services = await createServices(testConfig(database.target, { CONFAB_RATE_LIMIT_PER_MINUTE: '100' }), { backend: client, pollMs: 100, logger: silentLogger });
    try {
      const pending = await Promise.all(Array.from({ length: 6 }, (_, i) => run(services, actor(`r${i}`), 'explain', { prompt: `Analysis number ${i} of six.` })));
      const views = (await Promise.all(pending.map((p) => p.followUp!))) as AnalysisView[];
      expect(views.map((v) => v.status)).toEqual(Array(6).fill('done'));
      const status = await client.health();
      expect(status[0]).toMatchObject({ up: false, misconfigured: true });
      expect(status[0].lastError).toMatch(/misconfigured: refused our CONFAB_WORKER_SECRET \(401/);
      expect(status[1]).toMatchObject({ up: true });
      const logged = records.filter((r) => r.msg === 'inference worker misconfigured: skipped until it accepts our secret');
      expect(logged).toHaveLength(1);
      expect(logged[0].worker).toBe(bad.url);
    } finally {
      await services.close();
    }
  });

  it('with only a misconfigured worker the analysis fails retryably, without a URL, and /retry works once the secret is fixed', async () => {
    const bad = await worker('not-the-bots-secret');
    const port = Number(new URL(bad.url).port);
    // One retry: the first request after the worker's restart may meet the old server's kept-alive
    // socket, which the pool reads as a reset connection.
    const client = createInferenceClient({ urls: [bad.url], secret: SECRET, timeoutMs: 20_000, retries: 1, cooldownMs: 50, backoffMs: 50 });
    const services = await createServices(testConfig(database.target), { backend: client, pollMs: 100, logger: silentLogger });
    try {
      const pending = await run(services, actor('alice'), 'explain', { prompt: 'Refused by the worker.' });
      const failed = (await pending.followUp!) as AnalysisView;
      expect(failed).toMatchObject({ status: 'failed', retryable: true });
      expect(failed.error).toMatch(/misconfigured/);
      expect(failed.error).toMatch(/CONFAB_WORKER_SECRET/);
      expect(failed.error).not.toMatch(/https?:\/\/|127\.0\.0\.1/);

      // The operator fixes the worker's secret; the same address now accepts the bot.
      await bad.close();
      await worker(SECRET, port);
      const retried = await run(services, actor('alice'), 'retry', { analysis: failed.analysisId });
      expect(retried.view).toMatchObject({ kind: 'analysis' });
      const done = (await retried.followUp!) as AnalysisView;
      expect(done.status, done.error).toBe('done');
    } finally {
      await services.close();
    }
  });

  it('confab doctor says plainly which worker is misconfigured, and that the other is healthy', async () => {
    const bad = await worker('not-the-bots-secret');
    const good = await worker(SECRET);
    const stdout = new PassThrough();
    let text = '';
    stdout.on('data', (c: Buffer) => (text += c.toString()));
    const code = await doctorCommand.run(
      { values: {}, positionals: [] },
      {
        stdin: new PassThrough(),
        stdout,
        stderr: new PassThrough(),
        env: { CONFAB_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'confab-doctor-')), WORKER_URLS: `${bad.url},${good.url}`, CONFAB_WORKER_SECRET: SECRET },
      },
    );
    expect(code).toBe(1);
    expect(text).toContain(`FAIL worker ${bad.url}: MISCONFIGURED, it refused our CONFAB_WORKER_SECRET (401 unauthorized`);
    expect(text).toMatch(new RegExp(`ok {3}worker ${good.url.replace(/[.]/g, '\\.')}: healthy`));
    expect(text).not.toContain(SECRET);
  });
});
