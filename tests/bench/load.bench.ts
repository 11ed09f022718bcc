/**
 * `npm run bench:load [-- --seconds N]`: the scale-out layout under load, end to end.
 *
 * A throwaway PostgreSQL, 3 `confab start --local` bot processes and `confab worker` processes.
 *   1. /explain throughput: 60 analyses asked across the 3 bots, with WORKER_URLS naming 1 worker,
 *      then 2; analyses per second from the first ask to the last result in the database.
 *   2. Votes: 200 simulated reviewers (67 per bot), each with one vote outstanding at a time,
 *      each item voted on by 40 of them (under the 50 votes that close it here),
 *      voting through the bots' terminal channel for N seconds (default 20). Latency is from
 *      writing the vote to reading its acknowledgement, as the reviewer sees it.
 *   3. The same votes from 3 reviewers (one per bot): a vote's latency with nothing queued ahead.
 * Analyses lost: asked and neither done nor failed at the end. Prints the figures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startThrowawayPostgres } from '../../scripts/postgres.mjs';

const argv = process.argv.slice(2);
const SECONDS = argv.includes('--seconds') ? Number(argv[argv.indexOf('--seconds') + 1]) : 20;
const BOTS = 3;
const REVIEWERS = 200;
const ANALYSES = 60;
const SECRET = 'load-bench-secret';
const BIN = path.resolve(import.meta.dirname, '../../bin/confab.mjs');
const work = mkdtempSync(path.join(tmpdir(), 'confab-load-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const cluster = await startThrowawayPostgres();
if (!cluster.url) throw new Error(`bench:load needs PostgreSQL, but ${cluster.skipped}.`);
const baseEnv: Record<string, string> = {};
for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^(CONFAB_|DATABASE_URL|WORKER_URLS)/.test(k)) baseEnv[k] = v;
Object.assign(baseEnv, {
  DATABASE_URL: cluster.url,
  CONFAB_WORKER_SECRET: SECRET,
  CONFAB_LOG_LEVEL: 'warn',
  CONFAB_RATE_LIMIT_PER_MINUTE: '10000',
  CONFAB_VOTES_TO_CLOSE: '50',
  CONFAB_DATA_DIR: work,
});
const db = new pg.Pool({ connectionString: cluster.url, max: 2 });

interface Proc {
  child: ChildProcess;
  out: string;
  /** Called on each stdout line. */
  onLine?: (line: string) => void;
}
function confab(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: work, env: { ...baseEnv, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
  const proc: Proc = { child, out: '' };
  let partial = '';
  child.stdout!.on('data', (c) => {
    const text = partial + String(c);
    const lines = text.split('\n');
    partial = lines.pop()!;
    proc.out += String(c);
    for (const line of lines) proc.onLine?.(line);
  });
  return proc;
}
async function untilOut(proc: Proc, pattern: RegExp, timeoutMs = 180_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pattern.test(proc.out)) {
    if (Date.now() > end) throw new Error(`no ${pattern} within ${timeoutMs} ms: ${proc.out.slice(-500)}`);
    await sleep(50);
  }
}
async function stop(proc: Proc): Promise<void> {
  proc.child.stdin?.end();
  proc.child.kill('SIGTERM');
  await new Promise((r) => (proc.child.exitCode !== null ? r(null) : proc.child.once('close', r)));
}

const migrate = confab(['migrate']);
await new Promise((r) => migrate.child.once('close', r));
const ports = [await freePort(), await freePort()];
const workers = ports.map((port) => confab(['worker', '--port', String(port), '--engine-threads', '1']));
await Promise.all(workers.map((w) => untilOut(w, /listening on/)));
const urls = ports.map((p) => `http://127.0.0.1:${p}`);

async function startBots(workerUrls: string): Promise<Proc[]> {
  const bots = Array.from({ length: BOTS }, (_, i) => confab(['start', '--local', '--as', `load-${i}`], { WORKER_URLS: workerUrls }));
  // A first command answers once the process is up.
  for (const bot of bots) bot.child.stdin!.write('/stats\n');
  await Promise.all(bots.map((b) => untilOut(b, /Analyses +\d+/)));
  return bots;
}

async function explainThroughput(workerUrls: string, tag: string): Promise<{ perSecond: number; lost: number }> {
  const bots = await startBots(workerUrls);
  const [{ max }] = (await db.query('select coalesce(max(id), 0) as max from analyses')).rows as Array<{ max: number }>;
  const started = performance.now();
  for (let i = 0; i < ANALYSES; i++) bots[i % BOTS].child.stdin!.write(`/explain Load ${tag} ${i}: the devil's dictionary defines a bore as a person who talks\n`);
  let finished = 0;
  let asked = 0;
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    const rows = (await db.query(`select status from analyses where id > $1`, [max])).rows as Array<{ status: string }>;
    asked = rows.length;
    finished = rows.filter((r) => r.status === 'done' || r.status === 'failed').length;
    if (asked === ANALYSES && finished === ANALYSES) break;
    await sleep(100);
  }
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(bots.map(stop));
  return { perSecond: finished / seconds, lost: ANALYSES - finished };
}

const one = await explainThroughput(urls[0], 'one');
const two = await explainThroughput(urls.join(','), 'two');

// Votes: the explanations made above; `reviewers` across the bots, one vote outstanding each.
const explanationIds = ((await db.query('select id from explanations order by id')).rows as Array<{ id: number }>).map((r) => r.id);
const LABELS = ['faithful', 'confabulated'];

async function votePhase(reviewers: number, seconds: number) {
  const bots = await startBots(urls.join(','));
  const latencies: number[] = [];
  let acked = 0;
  let refused = 0;
  /** Why votes were refused (an item closed by its votes, …), by message. */
  const refusals = new Map<string, number>();
  let running = true;
  bots.forEach((bot, b) => {
    // The bot answers its stdin in order, so acknowledgements match the writes first in, first out.
    const outstanding: Array<{ sentAt: number; reviewer: number }> = [];
    const mine = Array.from({ length: reviewers }, (_, r) => r).filter((r) => r % BOTS === b);
    const turn = new Map(mine.map((r) => [r, 0]));
    const send = (reviewer: number) => {
      const n = turn.get(reviewer)!;
      turn.set(reviewer, n + 1);
      // Each item has 40 reviewers at most (200 / 5), under the 50 votes that would close it:
      // a reviewer changes its vote on its own items, as a vote storm on open items would.
      const own = explanationIds.filter((_, i) => i % 5 === reviewer % 5);
      const explanation = own[n % own.length];
      outstanding.push({ sentAt: performance.now(), reviewer });
      bot.child.stdin!.write(`/as r${reviewer}\n/vote #${explanation} ${LABELS[(n + reviewer) % 2]}\n`);
    };
    bot.onLine = (line) => {
      if (!/^(Vote recorded on|Vote on #\d+ changed|You already voted|Error:)/.test(line)) return;
      const done = outstanding.shift();
      if (!done || !running) return;
      if (line.startsWith('Error:')) {
        refused++;
        const why = line.replace(/#\d+/g, '#N');
        refusals.set(why, (refusals.get(why) ?? 0) + 1);
      } else {
        acked++;
        latencies.push(performance.now() - done.sentAt);
      }
      send(done.reviewer);
    };
    for (const r of mine) send(r);
  });
  const voteStart = performance.now();
  await sleep(seconds * 1000);
  running = false;
  const votesPerSecond = acked / ((performance.now() - voteStart) / 1000);
  await Promise.all(bots.map(stop));
  latencies.sort((x, y) => x - y);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  console.log(
    `votes: ${reviewers} reviewers, ${seconds} s: ${votesPerSecond.toFixed(0)} votes/s in aggregate (target >= 2,000), ${refused} refused; ` +
      `latency p50 ${pct(50).toFixed(1)} ms, p99 ${pct(99).toFixed(1)} ms (target <= 50 ms)`,
  );
  for (const [why, n] of [...refusals].sort((x, y) => y[1] - x[1]).slice(0, 3)) console.log(`  refused ${n}×: ${why}`);
}

console.log(`bench:load on ${cpus().length} cores, PostgreSQL ${cluster.version}, ${BOTS} bot processes`);
console.log(`/explain: ${ANALYSES} analyses: 1 worker ${one.perSecond.toFixed(2)}/s, 2 workers ${two.perSecond.toFixed(2)}/s, ratio ${(two.perSecond / one.perSecond).toFixed(2)}x (target >= 1.8x)`);
await votePhase(REVIEWERS, SECONDS);
// The same votes with one reviewer per bot: the time one vote takes when nothing queues ahead of it.
await votePhase(BOTS, Math.min(SECONDS, 10));
console.log(`analyses lost: ${one.lost + two.lost} (target 0)`);

await Promise.all(workers.map(stop));
await db.end();
cluster.stop();
rmSync(work, { recursive: true, force: true });
