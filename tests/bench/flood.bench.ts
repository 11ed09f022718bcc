/**
 * `npm run bench:flood`: peak memory of a separate `confab worker` process under a flood.
 *
 * Three waves of 70 concurrent clients: 900 KB prompts (far over the limit), near-limit prompts
 * with 4 NLA samples each, and the two mixed. The worker's resident memory (VmRSS, all its
 * threads) is sampled every 50 ms; the bench prints the peak, the memory after the flood, the
 * answers by status and the slowest answer. Target: under 1 GB throughout.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const BIN = path.resolve(import.meta.dirname, '../../bin/confab.mjs');
const SECRET = 'flood-bench-secret';
const CLIENTS = 70;

function rssMb(pid: number): number {
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    return kb / 1024;
  } catch {
    return 0;
  }
}

const env: Record<string, string> = {};
for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('CONFAB_')) env[k] = v;
const worker = spawn(process.execPath, [BIN, 'worker', '--port', '0'], { env: { ...env, CONFAB_WORKER_SECRET: SECRET, CONFAB_LOG_LEVEL: 'error' }, stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
worker.stdout!.on('data', (c) => (out += String(c)));
while (!/listening on (http:\/\/\S+) /.test(out)) {
  if (worker.exitCode !== null) throw new Error(`confab worker exited: ${out}`);
  await new Promise((r) => setTimeout(r, 100));
}
const url = /listening on (http:\/\/\S+) /.exec(out)![1];
const pid = worker.pid!;
const idle = rssMb(pid);
let peak = idle;
const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 50);

async function post(body: unknown): Promise<{ status: number; ms: number }> {
  const t = performance.now();
  try {
    const r = await fetch(`${url}/v1/analyze`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-secret-key': SECRET }, body: JSON.stringify(body) });
    await r.arrayBuffer();
    return { status: r.status, ms: performance.now() - t };
  } catch {
    return { status: 0, ms: performance.now() - t };
  }
}

const huge = { prompt: 'y'.repeat(900_000), nla_samples: 1 };
const near = (i: number) => ({ prompt: `${i} `.padEnd(127, 'the jargon file and the devil dictionary '), nla_samples: 4 });
const waves: Array<[string, () => unknown]> = [
  ['900 KB prompts', () => huge],
  ['near-limit prompts, 4 samples', () => near(Math.floor(Math.random() * 1e6))],
  ['mixed', () => (Math.random() < 0.5 ? huge : near(Math.floor(Math.random() * 1e6)))],
];
console.log(`confab worker pid ${pid}: ${idle.toFixed(0)} MB resident when idle`);
for (const [name, body] of waves) {
  const before = peak;
  const answers = await Promise.all(Array.from({ length: CLIENTS }, () => post(body())));
  const byStatus = new Map<number, number>();
  for (const a of answers) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
  const statuses = [...byStatus].map(([s, n]) => `${n}×${s || 'error'}`).join(', ');
  console.log(`${name}: ${CLIENTS} clients, answers ${statuses}, slowest ${(Math.max(...answers.map((a) => a.ms)) / 1000).toFixed(1)} s, peak RSS ${Math.max(before, peak).toFixed(0)} MB`);
}
await new Promise((r) => setTimeout(r, 5_000));
clearInterval(sampler);
console.log(`peak RSS ${peak.toFixed(0)} MB (target < 1024 MB); ${rssMb(pid).toFixed(0)} MB 5 s after the flood`);
worker.kill('SIGTERM');
await new Promise((r) => worker.once('close', r));
