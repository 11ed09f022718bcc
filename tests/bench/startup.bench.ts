/**
 * `npm run bench:startup`: how long a user waits for Confab, measured on the real executable in
 * fresh processes, as a user runs it:
 * - `confab --help`, and `confab agreement` on a 10-row CSV: spawn to exit;
 * - `npm start` to the first prompt, on an existing and on a new data folder (under util-linux
 *   `script`, so Confab sees a terminal and draws its prompt);
 * - the first `/explain` typed at that prompt: from the prompt to its finished result;
 * - `confab worker` to its first answered `POST /v1/analyze` (polled from the spawn on).
 *
 * Targets (issue 12): help ≤ 0.5 s, agreement ≤ 1 s, prompt ≤ 2 s (existing folder) and ≤ 5 s
 * (new folder), first /explain ≤ 3 s after the prompt, worker ≤ 2 s.
 *
 * With BENCH_BASE_TREE=<a worktree of an earlier commit, with its own node_modules> the same
 * measures run against that tree's bin/confab.mjs too, alternating tree by tree within each
 * round, so that both see the same machine load. The other tree is only read: every run has a
 * working directory and data folders of its own under the system temp directory.
 *
 * BENCH_ROUNDS (default 5) sets the rounds; BENCH_MEASURES=help,agreement,prompt,new,worker
 * picks measures (prompt includes the first /explain).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';

const HERE = path.resolve(import.meta.dirname, '..', '..');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const MEASURES = new Set((process.env.BENCH_MEASURES ?? 'help,agreement,prompt,new,worker').split(','));
const SCRIPT = ['/usr/bin/script', '/bin/script'].find((p) => existsSync(p));
const PROMPT = 'confab (bench)> ';
const WAIT_MS = 120_000;

interface Tree {
  name: string;
  root: string;
  /** A data folder the tree has already created, for the existing-folder measure. */
  dataDir?: string;
}

const scratch = mkdtempSync(path.join(os.tmpdir(), 'confab-bench-startup-'));
const csv = path.join(scratch, 'votes.csv');
writeFileSync(
  csv,
  ['item,reviewer,label', 'a,r1,faithful', 'a,r2,faithful', 'b,r1,confabulated', 'b,r2,faithful', 'c,r1,confabulated', 'c,r2,confabulated', 'd,r1,faithful', 'd,r2,unsure', 'e,r1,faithful', 'e,r2,confabulated', ''].join('\n'),
);

/** The environment of a user with nothing of Confab's set, and no colour (plain text to match). */
function benchEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(CONFAB_|DATABASE_URL|WORKER_URLS|DISCORD_|SLACK_|OPENAI_|CI$|FORCE_COLOR|npm_)/.test(key)) env[key] = value;
  }
  return { ...env, NO_COLOR: '1', TERM: 'xterm-256color', ...extra };
}

interface Watched {
  child: ChildProcess;
  output(): string;
  /** Milliseconds from the spawn until the output after `from` matches `pattern`. */
  waitFor(pattern: RegExp, from?: number): Promise<number>;
  exited: Promise<number | null>;
}

function watch(command: string, args: string[], options: { cwd: string; env: Record<string, string> }): Watched {
  const started = performance.now();
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  const waiters = new Set<() => void>();
  const collect = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const check of waiters) check();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    waitFor(pattern, from = 0) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${pattern} did not appear within ${WAIT_MS} ms:\n${output.slice(-2000)}`)), WAIT_MS);
        const check = () => {
          if (!pattern.test(output.slice(from))) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(performance.now() - started);
        };
        waiters.add(check);
        void exited.then(() => {
          if (!waiters.has(check)) return;
          check();
          if (waiters.has(check)) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(new Error(`exited before ${pattern} appeared:\n${output.slice(-2000)}`));
          }
        });
        check();
      });
    },
  };
}

async function stop(run: Watched): Promise<void> {
  if (run.child.exitCode !== null || run.child.signalCode !== null) return;
  const killer = setTimeout(() => run.child.kill('SIGKILL'), 30_000);
  run.child.kill('SIGTERM');
  await run.exited;
  clearTimeout(killer);
}

/** Spawn to exit, which must be 0. */
async function timeCommand(tree: Tree, args: string[]): Promise<number> {
  const started = performance.now();
  const run = watch(process.execPath, [path.join(tree.root, 'bin', 'confab.mjs'), ...args], { cwd: scratch, env: benchEnv() });
  run.child.stdin!.end();
  const code = await run.exited;
  if (code !== 0) throw new Error(`${tree.name}: confab ${args.join(' ')} exited ${code}:\n${run.output()}`);
  return performance.now() - started;
}

/** `npm start` on a terminal: ms to the prompt, and (optionally) from the prompt to the first /explain's result. */
async function timePrompt(tree: Tree, dataDir: string, explain: boolean): Promise<{ prompt: number; explain?: number }> {
  // From the tree's root, as a user types it; the data folder is the bench's own.
  const run = watch(SCRIPT!, ['-qfec', 'npm start --silent -- --as bench', '/dev/null'], { cwd: tree.root, env: benchEnv({ CONFAB_DATA_DIR: dataDir }) });
  try {
    const prompt = await run.waitFor(new RegExp(PROMPT.replace(/[()]/g, '\\$&')));
    let answered: number | undefined;
    if (explain) {
      const from = run.output().length;
      run.child.stdin!.write('/explain The quick brown fox jumps\r');
      answered = (await run.waitFor(/Analysis \d+ · done/, from)) - prompt;
    }
    run.child.stdin!.write('/quit\r');
    const killer = setTimeout(() => run.child.kill('SIGKILL'), 30_000);
    await run.exited;
    clearTimeout(killer);
    return { prompt, explain: answered };
  } finally {
    await stop(run);
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `confab worker` from the spawn to the first 200 from POST /v1/analyze, polled every 10 ms. */
async function timeWorker(tree: Tree): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const run = watch(process.execPath, [path.join(tree.root, 'bin', 'confab.mjs'), 'worker', '--port', String(port)], { cwd: scratch, env: benchEnv() });
  try {
    for (;;) {
      if (run.child.exitCode !== null) throw new Error(`${tree.name}: confab worker exited ${run.child.exitCode}:\n${run.output()}`);
      if (performance.now() - started > WAIT_MS) throw new Error(`${tree.name}: confab worker did not answer within ${WAIT_MS} ms`);
      try {
        const response = await fetch(`http://127.0.0.1:${port}/v1/analyze`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ prompt: 'The quick brown fox jumps' }),
        });
        await response.text();
        if (response.ok) return performance.now() - started;
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    await stop(run);
  }
}

type Measure = 'help' | 'agreement' | 'prompt (existing folder)' | 'first /explain after the prompt' | 'prompt (new folder)' | 'worker to first /v1/analyze';
const TARGETS: Record<Measure, number> = {
  help: 500,
  agreement: 1000,
  'prompt (existing folder)': 2000,
  'first /explain after the prompt': 3000,
  'prompt (new folder)': 5000,
  'worker to first /v1/analyze': 2000,
};
const LABELS: Record<Measure, string> = {
  help: '`confab --help`',
  agreement: '`confab agreement` (10-row CSV)',
  'prompt (existing folder)': '`npm start` to the prompt, existing data folder',
  'first /explain after the prompt': 'first `/explain` answered, after the prompt',
  'prompt (new folder)': '`npm start` to the prompt, new data folder',
  'worker to first /v1/analyze': '`confab worker` to its first answered `/v1/analyze`',
};

async function roundFor(tree: Tree, record: (measure: Measure, ms: number) => void): Promise<void> {
  if (MEASURES.has('help')) record('help', await timeCommand(tree, ['--help']));
  if (MEASURES.has('agreement')) record('agreement', await timeCommand(tree, ['agreement', '--csv', csv]));
  if (MEASURES.has('prompt')) {
    const timed = await timePrompt(tree, tree.dataDir!, true);
    record('prompt (existing folder)', timed.prompt);
    record('first /explain after the prompt', timed.explain!);
  }
  if (MEASURES.has('new')) {
    const dataDir = mkdtempSync(path.join(scratch, 'new-'));
    try {
      record('prompt (new folder)', (await timePrompt(tree, dataDir, false)).prompt);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  if (MEASURES.has('worker')) record('worker to first /v1/analyze', await timeWorker(tree));
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function describeTree(root: string): string {
  try {
    return execFileSync('git', ['-C', root, 'log', '-1', '--format=%h %s'], { encoding: 'utf8' }).trim().slice(0, 90);
  } catch {
    return root;
  }
}

async function main(): Promise<void> {
  if ((MEASURES.has('prompt') || MEASURES.has('new')) && !SCRIPT) throw new Error('The prompt measures need util-linux `script` (a pseudo-terminal); set BENCH_MEASURES=help,agreement,worker without it.');
  const trees: Tree[] = [{ name: 'this tree', root: HERE }];
  const base = process.env.BENCH_BASE_TREE;
  if (base) {
    if (!existsSync(path.join(base, 'bin', 'confab.mjs'))) throw new Error(`BENCH_BASE_TREE=${base} has no bin/confab.mjs.`);
    trees.unshift({ name: 'base', root: path.resolve(base) });
  }
  const samples = new Map<string, Map<Measure, number[]>>(trees.map((t) => [t.name, new Map()]));
  if (MEASURES.has('prompt')) {
    // The existing-folder measure needs a folder each tree has made (migrated) once already.
    for (const tree of trees) {
      tree.dataDir = mkdtempSync(path.join(scratch, 'existing-'));
      await timePrompt(tree, tree.dataDir, false);
    }
  }
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which tree goes first, so neither always runs on a machine the other just warmed.
    const order = round % 2 === 0 ? trees : [...trees].reverse();
    for (const tree of order) {
      await roundFor(tree, (measure, ms) => {
        const list = samples.get(tree.name)!.get(measure) ?? [];
        list.push(ms);
        samples.get(tree.name)!.set(measure, list);
      });
    }
    process.stderr.write(`round ${round + 1}/${ROUNDS} done (load average ${os.loadavg()[0].toFixed(1)})\n`);
  }

  const when = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const lines = [`### ${when} UTC (\`${base ? `BENCH_BASE_TREE=${base} ` : ''}BENCH_ROUNDS=${ROUNDS} npm run bench:startup\`)`, ''];
  for (const tree of trees) lines.push(`- ${tree.name}: ${describeTree(tree.root)}`);
  lines.push('', `| measure | target | ${trees.map((t) => `${t.name} median / p90`).join(' | ')} |${base ? ' this tree / base (medians) |' : ''}`);
  lines.push(`|---|---|${trees.map(() => '---|').join('')}${base ? '---|' : ''}`);
  for (const measure of Object.keys(TARGETS) as Measure[]) {
    const per = trees.map((t) => samples.get(t.name)!.get(measure));
    if (per.some((s) => !s)) continue;
    const cells = per.map((s) => `${(quantile(s!, 0.5) / 1000).toFixed(2)} s / ${(quantile(s!, 0.9) / 1000).toFixed(2)} s`);
    const ratio = base ? ` ${(quantile(per[1]!, 0.5) / quantile(per[0]!, 0.5)).toFixed(2)} |` : '';
    lines.push(`| ${LABELS[measure]} | ≤ ${(TARGETS[measure] / 1000).toFixed(1)} s | ${cells.join(' | ')} |${ratio}`);
  }
  lines.push(
    '',
    `Machine: ${os.cpus().length} CPU cores (${os.cpus()[0]?.model.trim() ?? 'unknown'}), Node ${process.version}; load average at the end ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' / ')}.`,
  );
  console.log(lines.join('\n'));
}

try {
  await main();
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
