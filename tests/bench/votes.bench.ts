/**
 * `npm run bench:votes`: 10k votes from 100 reviewers on 1k explanations, through the command
 * layer (invokeCommand, as a channel calls it), on PGlite and on PostgreSQL.
 *
 * Targets (issue 4): at least 500 votes/s on PGlite, p99 latency per vote at most 20 ms.
 * PostgreSQL runs when CONFAB_TEST_PG_URL is set, or when Debian's server is installed (a
 * throwaway cluster is started on loopback and removed after). Figures are appended to
 * BENCHMARKS.md, in the "Votes" section only.
 *
 * Options: --votes N (default 10000), --no-write (do not touch BENCHMARKS.md).
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { queryRows, type DatabaseTarget } from '../../db';
import { createServices, type Services } from '../../src/core/app';
import { invokeCommand } from '../../commands/invoke';
import type { Actor } from '../../src/core/actor';
import type { AnalysisView } from '../../src/core/view';
import { createTestDatabase, testConfig } from '../db/support';
import { FixtureWorker } from '../core/fixture-worker';
import { silentLogger } from '../../src/log';

const args = process.argv.slice(2);
const VOTES = Number(args[args.indexOf('--votes') + 1]) > 0 && args.includes('--votes') ? Number(args[args.indexOf('--votes') + 1]) : 10_000;
const REVIEWERS = 100;
const EXPLANATIONS = 1_000;
const SAMPLES_PER_ANALYSIS = 8;
const WRITE = !args.includes('--no-write');

interface Result {
  database: string;
  concurrency: number;
  votes: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
  /** CPU time of this process per vote: all of it for PGlite, the client's share for PostgreSQL. */
  cpuMs: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const actorFor = (i: number, isAdmin = false): Actor => ({
  platform: 'terminal',
  workspaceId: 'bench',
  channelId: 'bench',
  userId: `reviewer-${i}`,
  displayName: `Reviewer ${i}`,
  isAdmin,
});

/** 1k explanations: 125 analyses of 8 samples each, made by /explain through the dispatcher. */
async function seed(services: Services): Promise<number[]> {
  // Every vote must be accepted, so no item may close during the run.
  await invokeCommand(services, actorFor(0, true), 'settings', { votes_to_close: 50 });
  const pending: Array<Promise<unknown>> = [];
  for (let i = 0; i < EXPLANATIONS / SAMPLES_PER_ANALYSIS; i++) {
    const result = await invokeCommand(services, actorFor(i % REVIEWERS), 'explain', { prompt: `Benchmark prompt number ${i}.`, samples: SAMPLES_PER_ANALYSIS });
    if (result.view.kind !== 'analysis') throw new Error(`seeding failed: ${JSON.stringify(result.view)}`);
    pending.push(result.followUp!);
  }
  const views = (await Promise.all(pending)) as AnalysisView[];
  const ids = views.flatMap((v) => v.positions.flatMap((p) => p.explanations.map((e) => e.explanationId)));
  if (ids.length !== EXPLANATIONS) throw new Error(`seeded ${ids.length} explanations, expected ${EXPLANATIONS}`);
  return ids;
}

/**
 * The vote stream: reviewer r votes on 100 distinct explanations, so every (reviewer,
 * explanation) pair is new; labels cycle through all three.
 */
function voteStream(ids: number[], offset: number): Array<{ reviewer: number; explanation: number; label: string }> {
  const labels = ['faithful', 'confabulated', 'unsure'];
  const perReviewer = Math.ceil(VOTES / REVIEWERS);
  const stream = [];
  for (let k = 0; k < perReviewer; k++) {
    for (let r = 0; r < REVIEWERS && stream.length < VOTES; r++) {
      stream.push({ reviewer: r + offset, explanation: ids[(r * 10 + k * 7) % ids.length], label: labels[(r + k) % 3] });
    }
  }
  return stream;
}

async function measure(services: Services, name: string, ids: number[], concurrency: number, reviewerOffset: number): Promise<Result> {
  const stream = voteStream(ids, reviewerOffset);
  // Resolve each reviewer once, as a running bot would have seen them before.
  for (let r = 0; r < REVIEWERS; r++) await services.identity.resolve(actorFor(r + reviewerOffset));
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < stream.length) {
        const v = stream[next++];
        const t0 = performance.now();
        const result = await invokeCommand(services, actorFor(v.reviewer), 'vote', { explanation: v.explanation, label: v.label });
        latencies.push(performance.now() - t0);
        if (result.view.kind !== 'vote-ack' || result.view.change !== 'recorded') errors++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  latencies.sort((a, b) => a - b);
  return {
    database: name,
    concurrency,
    votes: stream.length,
    seconds,
    perSecond: stream.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies[latencies.length - 1],
    errors,
    cpuMs: (cpu.user + cpu.system) / 1000 / stream.length,
  };
}

async function benchDatabase(name: string, target: DatabaseTarget): Promise<Result[]> {
  const config = testConfig(target, { CONFAB_RATE_LIMIT_PER_MINUTE: '10000' });
  const services = await createServices(config, { backend: new FixtureWorker(), concurrency: 2, pollMs: 100, logger: silentLogger });
  try {
    const ids = await seed(services);
    const results: Result[] = [];
    // Sequential: one vote at a time. Concurrent: 8 votes in flight, as several reviewers
    // clicking at once. Fresh reviewers for each run so every vote is a new one.
    for (const [i, concurrency] of [1, 8].entries()) {
      results.push(await measure(services, name, ids, concurrency, (i + 1) * 1000));
    }
    const [{ votes, history }] = await queryRows<{ votes: number; history: number }>(
      services.database.db,
      sql`select (select count(*) from votes)::int as votes, (select count(*) from vote_history)::int as history`,
    );
    const expected = results.reduce((n, r) => n + r.votes - r.errors, 0);
    if (votes !== expected || history !== expected) throw new Error(`${name}: ${votes} votes and ${history} history rows stored, expected ${expected}`);
    return results;
  } finally {
    await services.close();
  }
}

/** A throwaway PostgreSQL cluster on loopback, when Debian's server is installed. */
async function startLocalPostgres(): Promise<{ url: string; stop(): void } | null> {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const version = readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a))[0];
  if (!version) return null;
  const bin = path.join(root, version, 'bin');
  const asRoot = os.userInfo().uid === 0;
  const run = (cmd: string, cmdArgs: string[]) =>
    asRoot ? spawnSync('runuser', ['-u', 'postgres', '--', cmd, ...cmdArgs], { stdio: 'ignore' }) : spawnSync(cmd, cmdArgs, { stdio: 'ignore' });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'confab-bench-pg-'));
  if (asRoot) {
    const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
    if (!line) return null;
    const [, , uid, gid] = line.split(':');
    chownSync(dir, Number(uid), Number(gid));
  }
  const port = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const p = (server.address() as { port: number }).port;
      server.close(() => resolve(p));
    });
  });
  const data = path.join(dir, 'data');
  if (run(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust']).status !== 0) return null;
  // Default durability (fsync on): the figure a real deployment sees.
  const started = run(path.join(bin, 'pg_ctl'), ['-D', data, '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, '-w', 'start']);
  if (started.status !== 0) return null;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop() {
      run(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function table(results: Result[]): string[] {
  return results.map(
    (r) =>
      `| ${r.database} | ${r.concurrency} | ${r.votes} | ${r.perSecond.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.max.toFixed(1)} | ${r.cpuMs.toFixed(2)} | ${(1000 / r.cpuMs).toFixed(0)} | ${r.errors} |`,
  );
}

const SECTION_START = '<!-- votes-bench:start -->';
const SECTION_END = '<!-- votes-bench:end -->';

function appendToBenchmarks(lines: string[]): void {
  const file = path.resolve(import.meta.dirname, '..', '..', 'BENCHMARKS.md');
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const entry = lines.join('\n');
  let next: string;
  if (current.includes(SECTION_START) && current.includes(SECTION_END)) {
    const end = current.indexOf(SECTION_END);
    next = `${current.slice(0, end).trimEnd()}\n\n${entry}\n${current.slice(end)}`;
  } else {
    const header = [
      '## Votes (`npm run bench:votes`)',
      '',
      '10k votes from 100 reviewers on 1k explanations, each through `invokeCommand` as a channel calls it',
      '(option checks, reviewer lookup, one transaction that locks the item, upserts the vote, appends',
      'history and updates the counts). Targets: ≥ 500 votes/s on PGlite; p99 ≤ 20 ms per vote.',
      'Concurrency is the number of votes in flight. Latencies in ms. CPU ms/vote is this process\'s CPU time',
      '(all of the work for PGlite, only the client\'s share for PostgreSQL): on a shared machine it shows',
      'the cost independent of how much of the CPU the run got, which the load average at start tells.',
    ].join('\n');
    next = `${current.trimEnd()}\n\n${SECTION_START}\n${header}\n\n${entry}\n${SECTION_END}\n`;
  }
  writeFileSync(file, next);
}

async function main(): Promise<void> {
  const machine = `${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GB, Node ${process.version}, ${os.platform()}`;
  // Shared machines: the load when the run started says how much of the CPU it really had.
  const load = `load average ${os.loadavg().map((l) => l.toFixed(1)).join(', ')} at start`;
  console.log(`votes bench: ${VOTES} votes, ${REVIEWERS} reviewers, ${EXPLANATIONS} explanations; ${machine}; ${load}`);
  const results: Result[] = [];

  const pglite = await createTestDatabase('pglite');
  try {
    results.push(...(await benchDatabase('PGlite', pglite.target)));
    console.log(table(results).join('\n'));
  } finally {
    await pglite.drop();
  }

  let pgNote = '';
  let local: { url: string; stop(): void } | null = null;
  let pgUrl = process.env.CONFAB_TEST_PG_URL;
  if (!pgUrl) {
    local = await startLocalPostgres();
    pgUrl = local?.url;
    pgNote = local ? ' (throwaway local cluster, fsync on)' : '';
  }
  if (pgUrl) {
    process.env.CONFAB_TEST_PG_URL = pgUrl;
    try {
      const pg = await createTestDatabase('postgres');
      try {
        const pgResults = await benchDatabase(`PostgreSQL${pgNote}`, pg.target);
        console.log(table(pgResults).join('\n'));
        results.push(...pgResults);
      } finally {
        await pg.drop();
      }
    } finally {
      local?.stop();
    }
  } else {
    console.log('PostgreSQL: skipped (set CONFAB_TEST_PG_URL, or install the postgresql package).');
  }

  const head = [
    '| database | concurrency | votes | votes/s | p50 | p99 | max | CPU ms/vote | votes per CPU-second | errors |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  console.log([...head, ...table(results)].join('\n'));
  const pgliteSequential = results.find((r) => r.database === 'PGlite' && r.concurrency === 1)!;
  const verdict =
    `PGlite sequential: ${pgliteSequential.perSecond.toFixed(0)} votes/s (target ≥ 500), p99 ${pgliteSequential.p99.toFixed(1)} ms (target ≤ 20); ` +
    `${pgliteSequential.cpuMs.toFixed(2)} ms of CPU per vote, i.e. ${(1000 / pgliteSequential.cpuMs).toFixed(0)} votes/s on one uncontended core.`;
  console.log(verdict);
  if (WRITE) {
    appendToBenchmarks([
      `### ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      '',
      `Machine: ${machine}; ${load}. Command: \`npm run bench:votes\`${process.env.CONFAB_TEST_PG_URL && !local ? ' with CONFAB_TEST_PG_URL set' : ''}.`,
      '',
      ...head,
      ...table(results),
      '',
      verdict,
    ]);
    console.log('Appended to BENCHMARKS.md.');
  }
}

await main();
