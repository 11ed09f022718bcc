/**
 * `npm run bench:dataset`: the dataset export over 1M votes on 200k explanations, and
 * Dawid–Skene over 1M votes.
 *
 * Targets (issue 5): export ≥ 20k rows/s with peak RSS ≤ 300 MB; Dawid–Skene ≤ 5 s.
 *
 * The review history is generated inside the database with `INSERT … SELECT generate_series`
 * (no per-row round trips), into embedded PGlite by default, or into PostgreSQL when
 * CONFAB_BENCH_PG_URL names a server (the database is wiped: use a scratch one). Each export
 * is then `confab dataset export` itself (bin/confab.mjs) in a fresh process, so its peak RSS
 * (getrusage maxrss, reported at exit by rusage-at-exit.mjs) is the command's alone, as a user
 * would see it; with PGlite that RSS includes the embedded database.
 *
 * Options: --explanations N (default 200000), --votes-per-item N (default 5), --keep DIR (a
 * Confab data directory, its PGlite database kept between runs; generation is skipped when it
 * already holds data), --jobs parquet,jsonl,parquet+act (which exports to run; default all).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir, cpus, loadavg } from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { openDatabase, type Database, type DatabaseTarget } from '../../db';
import type { DatasetFormat } from '../../src/core/dataset/export';
import { dawidSkene } from '../../src/core/labels/dawid-skene';
import { majorityVote } from '../../src/core/labels/majority';
import type { VoteTable } from '../../src/core/labels/vote-table';
import { syntheticCrowd } from '../labels/crowd';

interface ExportJob {
  format: DatasetFormat;
  includeActivations: boolean;
}

interface ExportResult {
  rows: number;
  votes: number;
  /** The whole command, from spawn to exit (start-up, opening the database, the export). */
  commandSeconds: number;
  /** The export itself, as the command reports it. */
  exportSeconds: number;
  /** CPU time of the exporting process (with PGlite this includes the database). */
  cpuSeconds: number;
  maxRssMb: number;
  bytes: number;
}

const argValue = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};

const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'confab.mjs');
const RUSAGE = path.resolve(import.meta.dirname, 'rusage-at-exit.mjs');

/** `confab dataset export` in its own process, against the data directory or DATABASE_URL. */
function runExport(job: ExportJob, env: Record<string, string>, out: string): ExportResult {
  const args = ['--import', RUSAGE, BIN, 'dataset', 'export', '--format', job.format, '--out', out, ...(job.includeActivations ? ['--include-activations'] : [])];
  const started = performance.now();
  const spawned = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, ...env, CONFAB_LOG_LEVEL: 'warn' }, maxBuffer: 16 * 1024 * 1024 });
  const commandSeconds = (performance.now() - started) / 1000;
  const wrote = /Wrote ([\d,]+) rows \(([\d,]+) votes.* in ([\d.]+) s/.exec(spawned.stdout);
  const usage = /RUSAGE (\{.*\})/.exec(spawned.stderr);
  if (spawned.status !== 0 || !wrote || !usage) {
    console.error(spawned.stdout, spawned.stderr);
    throw new Error(`confab dataset export (${job.format}) failed with status ${spawned.status}`);
  }
  const { maxRssMb, cpuSeconds } = JSON.parse(usage[1]) as { maxRssMb: number; cpuSeconds: number };
  const count = (s: string) => Number(s.replace(/,/g, ''));
  return { rows: count(wrote[1]), votes: count(wrote[2]), exportSeconds: Number(wrote[3]), commandSeconds, cpuSeconds, maxRssMb, bytes: statSync(out).size };
}

/** Fills the database with `explanations` items (5% decoys) and `votesPerItem` votes each. */
async function generate(db: Database['db'], explanations: number, votesPerItem: number): Promise<void> {
  const perAnalysis = 4;
  const analysesCount = Math.ceil(explanations / perAnalysis);
  const reviewerCount = 200;
  const run = (q: ReturnType<typeof sql>) => db.execute(q);
  await run(sql`truncate workspaces, channels, reviewers, analyses, tokens, positions, sae_features, explanations, activations, votes, vote_history restart identity cascade`);
  await run(sql`insert into workspaces (platform, external_id, name) values ('discord', '1', 'bench')`);
  await run(sql`insert into channels (workspace_id, external_id) values (1, 'c1')`);
  await run(sql`insert into reviewers (platform, user_id, display_name, pseudonym)
    select 'discord', 'user' || g, 'Reviewer ' || g, substr(md5('r' || g), 1, 24) from generate_series(1, ${reviewerCount}) g`);
  await run(sql`insert into analyses (workspace_id, channel_id, requester_id, prompt, model, layer, d_model, status)
    select 1, 1, 1 + g % ${reviewerCount}, 'Prompt number ' || g || ': el que madruga, Dios le ayuda.', 'confab-reference-v1', 2, 128, 'done'
    from generate_series(1, ${analysesCount}) g`);
  await run(sql`insert into positions (analysis_id, position, token, l0, explained_variance, fve_nrm)
    select g, 5, ' ayuda', 16, 0.9, 0.8 from generate_series(1, ${analysesCount}) g`);
  await run(sql`insert into sae_features (position_id, rank, feature_index, activation, label)
    select p, r, (p * 31 + r * 7) % 1024, 10.0 / r, 'feature label ' || ((p * 31 + r * 7) % 1024)
    from generate_series(1, ${analysesCount}) p, generate_series(1, 8) r`);
  // 128 float32 values per activation (512 bytes), as the reference model's d_model.
  await run(sql`insert into activations (position_id, d_model, vector)
    select g, 128, decode(repeat(lpad(to_hex((g % 250) + 1), 2, '0') || '00803f', 128), 'hex') from generate_series(1, ${analysesCount}) g`);
  await run(sql`insert into explanations (position_id, analysis_id, workspace_id, sample, source, text, raw, parsed,
      ar_cosine, ar_mse_nrm, ar_fve_nrm, signals, decisive_votes)
    select 1 + (g - 1) / ${perAnalysis}, 1 + (g - 1) / ${perAnalysis}, 1, (g - 1) % ${perAnalysis},
      case when g % 20 = 0 then 'decoy' else 'nla' end,
      'A Spanish proverb about rising early; sample ' || g, '<explanation>…</explanation>', true,
      0.9, 0.2, 0.7, jsonb_build_object('feature_overlap', jsonb_build_object('score', (g % 10) / 10.0)), ${votesPerItem}
    from generate_series(1, ${explanations}) g`);
  // Votes with structure, as real reviews have. Item g's true label and its panel of reviewers
  // come from two independent hashes of g (truth 35% confabulated; decoys, g ≡ 0 mod 20, are
  // confabulated); the panel is reviewers (h + 13k) mod 200 for k < votesPerItem, distinct since
  // 13k < 200. Reviewers with id ≡ 0 mod 10 answer at random (spammers), the others are right 85%
  // of the time; 8% of votes are unsure. (A first version derived truth and panel from g mod 100
  // and g mod 200: every panel then saw a single class, which no aggregation can untangle.)
  await run(sql`insert into votes (explanation_id, reviewer_id, label, created_at, updated_at)
    select g, r,
      case when u < 0.08 then 'unsure'
           when r % 10 = 0 then (case when random() < 0.5 then 'faithful' else 'confabulated' end)
           when (random() < 0.85) = truth then 'confabulated' else 'faithful' end,
      now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval
    from (select g, k, 1 + ((hashint4(g) & 65535) % ${reviewerCount} + k * 13) % ${reviewerCount} as r, random() as u,
            g % 20 = 0 or (hashint4(g + 7919) & 1023) < 358 as truth
          from generate_series(1, ${explanations}) g, generate_series(0, ${votesPerItem - 1}) k) plan`);
  await run(sql`analyze`);
}

function dawidSkeneBench(votes: number): { seconds: number; cpuSeconds: number; iterations: number; dsAccuracy: number; majorityAccuracy: number } {
  const votesPerItem = 5;
  const items = votes / votesPerItem;
  const crowd = syntheticCrowd({
    seed: 5,
    items,
    votesPerItem,
    prior: [0.7, 0.3],
    reviewers: [
      ...Array.from({ length: 150 }, () => ({ kind: 'honest' as const, accuracy: 0.85 })),
      ...Array.from({ length: 30 }, () => ({ kind: 'spammer' as const, accuracy: 0 })),
      ...Array.from({ length: 20 }, () => ({ kind: 'adversary' as const, accuracy: 0.3 })),
    ],
  });
  const table: VoteTable = {
    length: crowd.item.length,
    item: crowd.item,
    reviewer: crowd.reviewer,
    label: crowd.label,
    itemKeys: Array.from({ length: items }, (_, i) => i),
    reviewerKeys: crowd.reviewers.map((_, j) => j),
    classes: ['faithful', 'confabulated'],
  };
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  const ds = dawidSkene(table);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStarted);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const acc = (labels: Int32Array) => labels.reduce((n, l, i) => n + (l === crowd.truth[i] ? 1 : 0), 0) / items;
  return { seconds, cpuSeconds, iterations: ds.iterations, dsAccuracy: acc(ds.label), majorityAccuracy: acc(majorityVote(table).label) };
}

async function main(): Promise<void> {
  const explanations = argValue('--explanations', 200_000);
  const votesPerItem = argValue('--votes-per-item', 5);
  const work = mkdtempSync(path.join(tmpdir(), 'confab-bench-dataset-'));
  const pgUrl = process.env.CONFAB_BENCH_PG_URL;
  const keepAt = process.argv.indexOf('--keep');
  const dataDir = keepAt >= 0 ? path.resolve(process.argv[keepAt + 1]) : path.join(work, 'data');
  const target: DatabaseTarget = pgUrl ? { kind: 'postgres', url: pgUrl } : { kind: 'pglite', dir: path.join(dataDir, 'pglite') };
  // What the exporting command is given: the same database, through its configuration.
  const env: Record<string, string> = pgUrl ? { DATABASE_URL: pgUrl, CONFAB_DATA_DIR: work } : { CONFAB_DATA_DIR: dataDir };
  console.log(`Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}; database: ${target.kind}; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);

  const genStarted = performance.now();
  const database = await openDatabase(target);
  const existing = (await database.db.execute(sql`select count(*)::int as n from explanations`)) as unknown as { rows: Array<{ n: number }> };
  const reuse = keepAt >= 0 && Number(existing.rows[0].n) === explanations;
  if (!reuse) await generate(database.db, explanations, votesPerItem);
  await database.close();
  if (reuse) console.log(`Reusing the data in ${dataDir}.`);
  else console.log(`Generated ${explanations.toLocaleString('en-US')} explanations and ${(explanations * votesPerItem).toLocaleString('en-US')} votes in ${((performance.now() - genStarted) / 1000).toFixed(1)} s.`);

  const allJobs: ExportJob[] = [
    { format: 'parquet', includeActivations: false },
    { format: 'jsonl', includeActivations: false },
    { format: 'parquet', includeActivations: true },
  ];
  const jobsAt = process.argv.indexOf('--jobs');
  const wanted = jobsAt >= 0 ? process.argv[jobsAt + 1].split(',') : null;
  const jobs = allJobs.filter((j) => !wanted || wanted.includes(`${j.format}${j.includeActivations ? '+act' : ''}`));
  const results: Array<{ job: ExportJob; result: ExportResult }> = [];
  for (const job of jobs) {
    const out = path.join(work, `export-${job.format}${job.includeActivations ? '-act' : ''}.${job.format}`);
    const result = runExport(job, env, out);
    results.push({ job, result });
    console.log(
      `export ${job.format}${job.includeActivations ? ' + activations' : ''}: ${result.rows.toLocaleString('en-US')} rows, ${result.votes.toLocaleString('en-US')} votes;` +
        ` export ${result.exportSeconds.toFixed(1)} s = ${Math.round(result.rows / result.exportSeconds).toLocaleString('en-US')} rows/s; whole command ${result.commandSeconds.toFixed(1)} s = ${Math.round(result.rows / result.commandSeconds).toLocaleString('en-US')} rows/s` +
        ` (CPU ${result.cpuSeconds.toFixed(1)} s); peak RSS ${result.maxRssMb.toFixed(0)} MB; file ${(result.bytes / 1e6).toFixed(1)} MB`,
    );
  }

  console.log(`load average now ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const ds = dawidSkeneBench(explanations * votesPerItem);
  console.log(
    `Dawid–Skene over ${(explanations * votesPerItem).toLocaleString('en-US')} votes: ${ds.seconds.toFixed(2)} s (CPU ${ds.cpuSeconds.toFixed(2)} s), ${ds.iterations} iterations; accuracy ${ds.dsAccuracy.toFixed(4)} vs majority ${ds.majorityAccuracy.toFixed(4)}`,
  );
  console.log('\n| measure | target | measured |');
  console.log('|---|---|---|');
  for (const { job, result } of results) {
    console.log(
      `| export ${job.format}${job.includeActivations ? ' + activations' : ''} (${target.kind}), rows/s | ≥ 20k | ${Math.round(result.rows / result.exportSeconds).toLocaleString('en-US')} (export); ${Math.round(result.rows / result.commandSeconds).toLocaleString('en-US')} (whole command) |`,
    );
    console.log(`| peak RSS of that command | ≤ 300 MB | ${result.maxRssMb.toFixed(0)} MB |`);
  }
  console.log(`| Dawid–Skene over ${(explanations * votesPerItem).toLocaleString('en-US')} votes | ≤ 5 s | ${ds.seconds.toFixed(2)} s (CPU ${ds.cpuSeconds.toFixed(2)} s) |`);
  rmSync(work, { recursive: true, force: true });
}

await main();
