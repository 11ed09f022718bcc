/**
 * A bot process for the crash test: Confab's services on the PostgreSQL named by CHILD_PG_URL,
 * with a worker that never answers, so whatever it claims stays running until it is killed.
 * Prints `READY <instanceId>` once its dispatcher runs.
 */
import { createServices } from '../../src/core/app';
import { silentLogger } from '../../src/log';
import { testConfig } from '../db/support';
import { FixtureWorker } from './fixture-worker';

const worker = new FixtureWorker();
worker.state.mode = 'hang';
const services = await createServices(testConfig({ kind: 'postgres', url: process.env.CHILD_PG_URL! }, { CONFAB_WORKER_TIMEOUT_MS: '600000' }), {
  backend: worker,
  pollMs: 100,
  logger: silentLogger,
});
process.stdout.write(`READY ${services.dispatcher.instanceId}\n`);
