/**
 * A worker in its own process, for the failover test: the real engine on the reference stack,
 * served on a free port. It prints `LISTENING <url>` when ready and `REQUEST <path>` as each
 * request arrives, so the test can kill it while a request is in flight.
 *
 * argv[2]: batch window in ms (a long window holds a request in the queue).
 */
import { REFERENCE_MODELS } from '../../src/config';
import { createEngine } from '../../src/worker/runtime/engine';
import { createWorkerServer } from '../../src/worker/server';

const batchWindowMs = Number(process.argv[2] ?? 2);
const engine = await createEngine(REFERENCE_MODELS);
const worker = await createWorkerServer({ engine, port: 0, batchWindowMs, secret: process.env.CHILD_SECRET });
worker.server.on('request', (req) => process.stdout.write(`REQUEST ${req.url}\n`));
process.stdout.write(`LISTENING ${worker.url}\n`);
