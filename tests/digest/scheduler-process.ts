/**
 * A bot process for the digest tests: the real core (createServices) on the database named by
 * the environment, with a Discord digest listener that prints each digest it is given as a JSON
 * line instead of calling Discord. With DIGEST_CRASH=1 it kills itself (SIGKILL) on its first
 * digest, after the claim and before posting.
 */
import { silentLogger } from '../../src/log';
import { createServices } from '../../src/core/app';
import type { DatabaseTarget } from '../../db';
import { testConfig } from '../db/support';

const target: DatabaseTarget = process.env.DIGEST_DB_URL
  ? { kind: 'postgres', url: process.env.DIGEST_DB_URL }
  : { kind: 'pglite', dir: process.env.DIGEST_DB_DIR! };
const services = await createServices(testConfig(target), {
  logger: silentLogger,
  digest: { leaseMs: Number(process.env.DIGEST_LEASE_MS ?? 60_000), rescanMs: 1_000, processId: `child-${process.pid}` },
});
services.events.onDigest('discord', (event) => {
  if (process.env.DIGEST_CRASH === '1') process.kill(process.pid, 'SIGKILL');
  process.stdout.write(`${JSON.stringify({ pid: process.pid, scheduledFor: event.scheduledFor.toISOString(), label: event.digest.period.label, late: event.late, channel: event.channelId })}\n`);
  return true;
});
process.stdout.write('READY\n');
await new Promise((resolve) => setTimeout(resolve, Number(process.env.DIGEST_RUN_MS ?? 5_000)));
await services.close();
process.exit(0);
