/**
 * `npm run chaos [-- --seconds N] [--kill-every S]`: the scale-out layout under faults.
 *
 * A throwaway PostgreSQL, 2 `confab worker` processes and 3 `confab start --local` bot processes
 * (WORKER_URLS naming both workers), each fed by scripted reviewers on its stdin. For N seconds it
 * SIGKILLs a random bot or worker every few seconds and starts it again, restarts PostgreSQL once,
 * and runs `confab dataset export` half-way. Then it lets the system settle and checks, against the
 * database and every process's output:
 *   - every acknowledged vote is stored, once, with the last label its reviewer sent;
 *   - every requested analysis is done, or failed with a stated reason; none is stuck;
 *   - each result and each close was printed once, across all bot processes;
 *   - no item closed twice;
 *   - the export was consistent (each row's votes agree with its counts and label);
 *   - takeover: how long an analysis held by a killed bot waited before another process took it.
 * It prints the counts and exits 1 if any check failed. Not part of `npm test`. With `--keep`, the
 * working folder stays, with each bot process's output in `bot-<n>-<pid>.log`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startThrowawayPostgres } from '../../scripts/postgres.mjs';

const argv = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(argv[i + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number; got "${argv[i + 1]}".`);
  return value;
};
const SECONDS = flag('seconds', 300);
const KILL_EVERY_S = flag('kill-every', 5);
const SETTLE_S = flag('settle', 60);
const KEEP = argv.includes('--keep');
const BOTS = 3;
const WORKERS = 2;
const USERS_PER_BOT = 8;
const SECRET = 'chaos-worker-secret';
const BIN = path.resolve(import.meta.dirname, '../../bin/confab.mjs');
const work = mkdtempSync(path.join(tmpdir(), 'confab-chaos-'));
const say = (line: string) => console.log(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const cluster = await startThrowawayPostgres();
if (!cluster.url) {
  console.error(`chaos: needs PostgreSQL, but ${cluster.skipped}.`);
  process.exit(1);
}
const DATABASE_URL = cluster.url;
const baseEnv: Record<string, string> = {};
for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^(CONFAB_|DATABASE_URL|WORKER_URLS|DISCORD_|SLACK_|OPENAI_)/.test(k)) baseEnv[k] = v;
Object.assign(baseEnv, { DATABASE_URL, CONFAB_WORKER_SECRET: SECRET, CONFAB_LOG_LEVEL: 'warn', CONFAB_RATE_LIMIT_PER_MINUTE: '10000', CONFAB_DATA_DIR: work });

function confab(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { cwd: work, env: { ...baseEnv, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
}

async function runToEnd(args: string[]): Promise<{ code: number | null; out: string }> {
  const child = confab(args);
  child.stdin!.end();
  let out = '';
  child.stdout!.on('data', (c) => (out += String(c)));
  child.stderr!.on('data', (c) => (out += String(c)));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  return { code, out };
}

const migrated = await runToEnd(['migrate']);
if (migrated.code !== 0) throw new Error(`confab migrate failed: ${migrated.out}`);
const db = new pg.Pool({ connectionString: DATABASE_URL, max: 4, connectionTimeoutMillis: 3_000, query_timeout: 10_000 });
db.on('error', () => {});
async function query<T>(text: string, values: unknown[] = []): Promise<T[]> {
  return (await db.query(text, values)).rows as T[];
}

// ---- Workers ----------------------------------------------------------------------------
const workerPorts = await Promise.all(Array.from({ length: WORKERS }, () => freePort()));
const workers: Array<ChildProcess | null> = workerPorts.map(() => null);
async function startWorker(i: number): Promise<void> {
  const child = confab(['worker', '--port', String(workerPorts[i]), '--engine-threads', '1']);
  workers[i] = child;
  let out = '';
  child.stdout!.on('data', (c) => (out += String(c)));
  child.stderr!.resume();
  for (let t = 0; t < 1200 && !out.includes('listening on'); t++) await sleep(100);
}
await Promise.all(workerPorts.map((_, i) => startWorker(i)));
const WORKER_URLS = workerPorts.map((p) => `http://127.0.0.1:${p}`).join(',');
say(`PostgreSQL ${cluster.version} and ${WORKERS} workers (${WORKER_URLS}) up.`);

// ---- Bots and their scripted reviewers ----------------------------------------------------
interface SentVote {
  explanationId: number;
  user: string;
  label: string;
}
interface Incarnation {
  bot: number;
  child: ChildProcess;
  pid: number;
  out: string;
}
const incarnations: Incarnation[] = [];
const bots: Array<Incarnation | null> = Array.from({ length: BOTS }, () => null);
/** Every vote sent, in order per (explanation, user); a user belongs to one bot, so the order is the bot's. */
const sent: SentVote[] = [];
const LABELS = ['faithful', 'confabulated', 'unsure'];
let openItems: number[] = [];
let prompts = 0;

function startBot(i: number): void {
  const child = confab(['start', '--local', '--as', `b${i}-u0`], { WORKER_URLS, CONFAB_WORKER_TIMEOUT_MS: '20000' });
  const inc: Incarnation = { bot: i, child, pid: child.pid!, out: '' };
  child.stdout!.on('data', (c) => (inc.out += String(c)));
  child.stderr!.resume();
  child.stdin!.on('error', () => {});
  incarnations.push(inc);
  bots[i] = inc;
}

function act(inc: Incarnation): void {
  const stdin = inc.child.stdin!;
  if (!stdin.writable) return;
  const user = `b${inc.bot}-u${Math.floor(Math.random() * USERS_PER_BOT)}`;
  if (Math.random() < 0.12 || openItems.length === 0) {
    stdin.write(`/as ${user}\n/explain Chaos prompt ${++prompts} from bot ${inc.bot}: the jargon file says\n`);
    return;
  }
  const explanationId = openItems[Math.floor(Math.random() * openItems.length)];
  const label = LABELS[Math.floor(Math.random() * LABELS.length)];
  sent.push({ explanationId, user, label });
  stdin.write(`/as ${user}\n/vote #${explanationId} ${label}\n`);
}

for (let i = 0; i < BOTS; i++) startBot(i);

// ---- Faults -------------------------------------------------------------------------------
interface HeldAtKill {
  analysisId: number;
  killedAt: number;
  /** Seconds from the kill until another process held it (or finished it); null if none did. */
  takeover?: Promise<number | null>;
}
const heldAtKill: HeldAtKill[] = [];

/**
 * Watches one analysis a killed bot held, until another process claims or finishes it. Timed
 * here rather than read from the row afterwards: the analysis may be taken over, and then held
 * by the next bot killed, so its last claim says nothing about the first takeover.
 */
async function timeTakeover(analysisId: number, deadPid: number, killedAt: number): Promise<number | null> {
  while (Date.now() - killedAt < 90_000) {
    const [row] = await query<{ status: string; claimed_by: string | null }>(`select status, claimed_by from analyses where id = $1`, [analysisId]).catch(() => []);
    if (row && (row.status === 'done' || row.status === 'failed' || (row.status === 'running' && !row.claimed_by?.startsWith(`${deadPid}-`)))) return (Date.now() - killedAt) / 1000;
    await sleep(100);
  }
  return null;
}
const kills: string[] = [];
let exportResult = null as { code: number | null; out: string; file: string } | null;
let pgRestarted = false;

/** The bot holding a running analysis now, if any: killing it is what exercises takeover. */
async function botHoldingWork(): Promise<number | null> {
  const rows = await query<{ claimed_by: string }>(`select claimed_by from analyses where status = 'running'`).catch(() => []);
  const pids = new Set(rows.map((r) => Number(r.claimed_by.split('-')[0])));
  const holders = bots.map((inc, i) => (inc && pids.has(inc.pid) ? i : -1)).filter((i) => i >= 0);
  return holders.length ? holders[Math.floor(Math.random() * holders.length)] : null;
}

async function killSomething(): Promise<void> {
  let target = Math.floor(Math.random() * (BOTS + WORKERS));
  if (target < BOTS) {
    // Analyses take a fraction of a second: look for a bot caught holding one, for a few seconds.
    const until = Date.now() + 3_000;
    let holder: number | null = null;
    while (holder === null && Date.now() < until) {
      holder = await botHoldingWork();
      if (holder === null) await sleep(15);
    }
    target = holder ?? target;
  }
  if (target < BOTS) {
    const inc = bots[target];
    if (!inc) return;
    const killedAt = Date.now();
    inc.child.kill('SIGKILL');
    bots[target] = null;
    kills.push(`bot ${target}`);
    const held = await query<{ id: number }>(`select id from analyses where status = 'running' and claimed_by like $1`, [`${inc.pid}-%`]).catch(() => []);
    for (const { id } of held) heldAtKill.push({ analysisId: id, killedAt, takeover: timeTakeover(id, inc.pid, killedAt) });
    say(`killed bot ${target}${held.length ? ` holding analyses ${held.map((h) => `#${h.id}`).join(', ')}` : ''}`);
    await sleep(500);
    startBot(target);
  } else {
    const i = target - BOTS;
    if (!workers[i]) return;
    workers[i]!.kill('SIGKILL');
    workers[i] = null;
    kills.push(`worker ${i}`);
    say(`killed worker ${i}`);
    // Loading the models takes seconds; the reviewers go on meanwhile.
    void sleep(500).then(() => startWorker(i));
  }
}

const started = Date.now();
const endAt = started + SECONDS * 1000;
let nextKill = started + KILL_EVERY_S * 1000;
let killing = false;
let lastRefresh = 0;
let exportRun: Promise<void> | null = null;
let refreshError = '';
while (Date.now() < endAt) {
  for (const inc of bots) if (inc) act(inc);
  if (Date.now() - lastRefresh > 2000) {
    lastRefresh = Date.now();
    openItems = (
      await query<{ id: number }>(`select id from explanations where state = 'open' order by id desc limit 30`).catch((e: Error) => {
        if (e.message !== refreshError) say(`reading open items failed: ${(refreshError = e.message)}`);
        return openItems.map((id) => ({ id }));
      })
    ).map((r) => r.id);
  }
  if (!killing && Date.now() >= nextKill) {
    // Beside the reviewers, not instead of them: the search for a bot holding work takes seconds.
    killing = true;
    void killSomething().finally(() => {
      killing = false;
      nextKill = Date.now() + KILL_EVERY_S * 1000;
    });
  }
  if (!pgRestarted && Date.now() > started + SECONDS * 300) {
    pgRestarted = true;
    say('restarting PostgreSQL');
    const t = Date.now();
    cluster.restart();
    say(`PostgreSQL back after ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
  if (!exportRun && Date.now() > started + SECONDS * 500) {
    const file = path.join(work, 'export.jsonl');
    say('running confab dataset export while the reviewers vote');
    exportRun = runToEnd(['dataset', 'export', '--out', file]).then((r) => {
      exportResult = { ...r, file };
      say(`export finished (exit ${r.code})`);
    });
  }
  await sleep(250);
}
await exportRun;
while (killing) await sleep(50);
say(`chaos over after ${kills.length} kills (${kills.filter((k) => k.startsWith('bot')).length} bots, ${kills.filter((k) => k.startsWith('worker')).length} workers); settling`);

// ---- Settle: every process up, no new work, the queue drains ------------------------------
for (let i = 0; i < WORKERS; i++) if (!workers[i] || workers[i]!.exitCode !== null || workers[i]!.signalCode) await startWorker(i);
const settleUntil = Date.now() + SETTLE_S * 1000;
let pendingLeft: Array<{ id: number; status: string }> = [];
for (;;) {
  // Queued, running, or finished and still owed its post (a watcher or poster was killed).
  pendingLeft = await query<{ id: number; status: string }>(`select id, case when posted_at is null and status in ('done', 'failed') then 'unposted' else status end as status from analyses where status in ('queued', 'running') or posted_at is null`).catch(() => pendingLeft);
  if (pendingLeft.length === 0 || Date.now() > settleUntil) break;
  await sleep(1000);
}
// End of input: each bot waits for its pending analyses, prints them and exits.
for (const inc of bots) inc?.child.stdin!.end();
await Promise.all(
  bots.map(async (inc) => {
    if (!inc) return;
    const exited = new Promise((r) => inc.child.once('close', r));
    if (!(await Promise.race([exited.then(() => true), sleep(30_000).then(() => false)]))) inc.child.kill('SIGKILL');
  }),
);

// ---- Checks -------------------------------------------------------------------------------
const failures: string[] = [];
const check = (ok: boolean, what: string) => {
  if (!ok) failures.push(what);
};

// Acknowledged votes, read from each process's output in order.
interface Ack {
  explanationId: number;
  user: string;
  label: string;
}
const acks: Ack[] = [];
const requested = new Set<number>();
const resultPosts = new Map<number, number>();
const closePosts = new Map<number, number>();
for (const inc of incarnations) {
  let user = `b${inc.bot}-u0`;
  for (const line of inc.out.split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = /^Now acting as (\S+)\.$/.exec(line))) user = m[1];
    else if ((m = /^Vote recorded on #(\d+): (\w+)\.$/.exec(line)) || (m = /^Vote on #(\d+) changed from \w+ to (\w+)\.$/.exec(line))) acks.push({ explanationId: Number(m[1]), user, label: m[2] });
    else if ((m = /^Analysis (\d+) · (?:queued|running) · asked by/.exec(line))) requested.add(Number(m[1]));
    else if ((m = /^Analysis (\d+) · (done|failed) ·/.exec(line))) resultPosts.set(Number(m[1]), (resultPosts.get(Number(m[1])) ?? 0) + 1);
    else if ((m = /^This vote closed #(\d+)\.$/.exec(line))) closePosts.set(Number(m[1]), (closePosts.get(Number(m[1])) ?? 0) + 1);
  }
}

const stored = await query<{ explanation_id: number; user_id: string; label: string; n: string }>(
  `select v.explanation_id, r.user_id, v.label, count(*) over (partition by v.explanation_id, v.reviewer_id) as n
   from votes v join reviewers r on r.id = v.reviewer_id where r.platform = 'terminal'`,
);
const storedBy = new Map(stored.map((v) => [`${v.explanation_id}/${v.user_id}`, v]));
let votesLost = 0;
let votesDuplicated = 0;
let votesWrongLabel = 0;
const lastAck = new Map<string, Ack>();
for (const ack of acks) lastAck.set(`${ack.explanationId}/${ack.user}`, ack);
for (const [key, ack] of lastAck) {
  const row = storedBy.get(key);
  if (!row) {
    votesLost++;
    continue;
  }
  if (Number(row.n) !== 1) votesDuplicated++;
  // The stored label is the last acknowledged one, or one sent after it whose answer was lost to a kill.
  const history = sent.filter((s) => `${s.explanationId}/${s.user}` === key);
  const from = history.map((s) => s.label).lastIndexOf(ack.label);
  if (!history.slice(Math.max(0, from)).some((s) => s.label === row.label)) votesWrongLabel++;
}
check(votesLost === 0, `${votesLost} acknowledged votes are not stored`);
check(votesDuplicated === 0, `${votesDuplicated} votes are stored more than once`);
check(votesWrongLabel === 0, `${votesWrongLabel} stored votes carry a label their reviewer never sent last`);

const analysesRows = await query<{ id: number; status: string; error: string | null }>(`select id, status, error from analyses`);
const byId = new Map(analysesRows.map((a) => [a.id, a]));
const stuck = analysesRows.filter((a) => a.status === 'queued' || a.status === 'running');
const failedNoReason = analysesRows.filter((a) => a.status === 'failed' && !a.error?.trim());
const missing = [...requested].filter((id) => !byId.has(id));
check(stuck.length === 0, `${stuck.length} analyses are stuck (${stuck.slice(0, 10).map((a) => `#${a.id} ${a.status}`).join(', ')})`);
check(failedNoReason.length === 0, `${failedNoReason.length} analyses failed without a reason`);
check(missing.length === 0, `${missing.length} acknowledged analyses are not in the database`);
const finished = analysesRows.filter((a) => a.status === 'done' || a.status === 'failed');
const postedTwice = [...resultPosts].filter(([, n]) => n > 1);
const neverPosted = finished.filter((a) => !resultPosts.has(a.id));
check(postedTwice.length === 0, `${postedTwice.length} results were posted more than once (${postedTwice.slice(0, 10).map(([id, n]) => `#${id} ×${n}`).join(', ')})`);
check(neverPosted.length === 0, `${neverPosted.length} finished analyses were never posted (${neverPosted.slice(0, 10).map((a) => `#${a.id}`).join(', ')})`);

const closes = await query<{ explanation_id: number; n: string }>(
  `select explanation_id, count(*) as n from explanation_state_changes where state = 'closed' group by explanation_id`,
);
const closedTwice = closes.filter((c) => Number(c.n) > 1);
const closesPostedTwice = [...closePosts].filter(([, n]) => n > 1);
check(closedTwice.length === 0, `${closedTwice.length} items were closed more than once`);
check(closesPostedTwice.length === 0, `${closesPostedTwice.length} closes were posted more than once`);

let exportRows = 0;
let exportInconsistent = 0;
const exported = exportResult as { code: number | null; out: string; file: string } | null;
if (!exported) failures.push('the export did not run');
else if (exported.code !== 0) failures.push(`the export failed: ${exported.out.trim().split('\n').slice(-1)[0]}`);
else {
  for (const line of readFileSync(exported.file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    exportRows++;
    const row = JSON.parse(line) as { votes: string[]; decisive_votes: number; majority_label: string | null };
    const labels = row.votes.map((v) => (typeof v === 'string' ? v : (v as { label: string }).label));
    const f = labels.filter((l) => l === 'faithful').length;
    const c = labels.filter((l) => l === 'confabulated').length;
    const majority = f > c ? 'faithful' : c > f ? 'confabulated' : null;
    if (f + c !== row.decisive_votes || (majority !== null && row.majority_label !== majority)) exportInconsistent++;
  }
  check(exportInconsistent === 0, `${exportInconsistent} of ${exportRows} exported rows disagree with their own votes`);
}

// Takeover: from the kill to the claim (or result) of another process, timed while it ran.
const takeovers: number[] = [];
const notTakenOver: number[] = [];
for (const held of heldAtKill) {
  const seconds = await held.takeover!;
  if (seconds === null) notTakenOver.push(held.analysisId);
  else takeovers.push(seconds);
}
takeovers.sort((a, b) => a - b);
const p50 = takeovers.length ? takeovers[Math.floor((takeovers.length - 1) / 2)] : null;
const max = takeovers.length ? takeovers[takeovers.length - 1] : null;
check(max === null || max <= 20, `takeover took up to ${max?.toFixed(1)} s; the target is 20 s`);
check(notTakenOver.length === 0, `${notTakenOver.length} analyses held by a killed bot were never taken over`);

// ---- Report -------------------------------------------------------------------------------
const summary = [
  `chaos: ${SECONDS} s, ${BOTS} bots, ${WORKERS} workers, ${kills.length} SIGKILLs (every ${KILL_EVERY_S} s), PostgreSQL restarted ${pgRestarted ? 'once' : 'never'}`,
  `votes: ${sent.length} sent, ${lastAck.size} acknowledged (explanation, reviewer) pairs from ${acks.length} acks; lost ${votesLost}, duplicated ${votesDuplicated}, wrong label ${votesWrongLabel}`,
  `analyses: ${requested.size} acknowledged, ${analysesRows.length} in the database; ${analysesRows.filter((a) => a.status === 'done').length} done, ${analysesRows.filter((a) => a.status === 'failed').length} failed with a reason, ${stuck.length} stuck`,
  `posts: results posted twice ${postedTwice.length}, never ${neverPosted.length}; closes ${closes.length}, closed twice ${closedTwice.length}, close posted twice ${closesPostedTwice.length}`,
  `export: ${exported ? (exported.code === 0 ? `${exportRows} rows, ${exportInconsistent} inconsistent` : 'failed') : 'not run'}`,
  `takeover: ${takeovers.length} of ${heldAtKill.length} held analyses taken over; p50 ${p50?.toFixed(1) ?? '-'} s, max ${max?.toFixed(1) ?? '-'} s (${takeovers.map((t) => t.toFixed(1)).join(', ')})`,
];
for (const line of summary) console.log(line);
if (failures.length) {
  console.log(`FAILED (${failures.length}):`);
  for (const f of failures) console.log(`  - ${f}`);
} else console.log('PASSED: every check held.');

for (const w of workers) w?.kill('SIGKILL');
for (const inc of bots) inc?.child.kill('SIGKILL');
await db.end().catch(() => {});
cluster.stop();
if (KEEP) {
  for (const inc of incarnations) writeFileSync(path.join(work, `bot-${inc.bot}-${inc.pid}.log`), inc.out);
  console.log(`kept ${work}`);
} else rmSync(work, { recursive: true, force: true });
process.exit(failures.length ? 1 : 0);
