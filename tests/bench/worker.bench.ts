/**
 * `npm run bench:worker`: the inference worker on the reference stack over real HTTP.
 *
 * Workload (issue 3): a ~64-token prompt, last position, 1 NLA sample of at most 64 tokens,
 * AR scored. Measures, in one run so the ratios compare like with like:
 * - /v1/analyze latency one request at a time (p50, p95; target p50 ≤ 40 ms);
 * - throughput with 16 concurrent clients vs one at a time (target ≥ 3×);
 * - encode+decode of a 3584-d activation, base64 float32 vs a JSON float list;
 * - time per stage (from the worker's timings_ms) and which stage dominates.
 * Prints a Markdown block for BENCHMARKS.md.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { REFERENCE_MODELS } from '../../src/config';
import { createInferenceClient } from '../../src/inference';
import { decodeActivation, encodeActivation, type AnalyzeResponse } from '../../src/worker/api/analyze';
import { createEngine } from '../../src/worker/runtime/engine';
import { createWorkerServer } from '../../src/worker/server';

const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 120);
const CONCURRENT_CLIENTS = 16;
const CONCURRENT_PER_CLIENT = Number(process.env.BENCH_PER_CLIENT ?? 15);
const SECRET = 'bench-secret-0123456789';
const BATCH_WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 0);
/** The queue's regroup pause after a batch (BENCH_REGROUP_MS=0 turns it off, for comparison). */
const REGROUP_MS = process.env.BENCH_REGROUP_MS === undefined ? undefined : Number(process.env.BENCH_REGROUP_MS);

// 63 bytes + BOS = 64 tokens on the byte-level reference tokenizer. Varied per request so no
// layer of the stack can serve a cached answer.
const BASE = 'The Jargon File says a hacker enjoys exploring programmable syst';
const prompt = (i: number) => `${BASE.slice(0, 63 - String(i).length)}${i}`;

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const fmt = (ms: number) => ms.toFixed(1);

async function main() {
  const engine = await createEngine(REFERENCE_MODELS, { executionProvider: 'cpu' });
  const server = await createWorkerServer({ engine, secret: SECRET, port: 0, batchWindowMs: BATCH_WINDOW_MS, regroupMs: REGROUP_MS });
  const client = createInferenceClient({ urls: [server.url], secret: SECRET, timeoutMs: 60_000, retries: 0 });
  const request = (i: number) => ({ prompt: prompt(i), nla_samples: 1, max_new_tokens: 64, top_k: 8 });

  const first = await client.analyze(request(0));
  if (first.tokens.length !== 64) throw new Error(`bench prompt is ${first.tokens.length} tokens, expected 64`);
  for (let i = 1; i < 20; i++) await client.analyze(request(i)); // warm-up: JIT, ORT arenas

  // One at a time.
  const latencies: number[] = [];
  const results: AnalyzeResponse[] = [];
  const seqStart = performance.now();
  for (let i = 0; i < SEQUENTIAL; i++) {
    const t0 = performance.now();
    results.push(await client.analyze(request(100 + i)));
    latencies.push(performance.now() - t0);
  }
  const seqElapsed = performance.now() - seqStart;
  const seqThroughput = SEQUENTIAL / (seqElapsed / 1000);

  // 16 clients, each sending its next request as soon as the previous is answered.
  const concLatencies: number[] = [];
  const batchesBefore = server.queueStats().batches;
  const concStart = performance.now();
  let rejected = 0;
  await Promise.all(
    Array.from({ length: CONCURRENT_CLIENTS }, async (_, c) => {
      for (let k = 0; k < CONCURRENT_PER_CLIENT; k++) {
        const t0 = performance.now();
        try {
          await client.analyze(request(10_000 + c * 1000 + k));
        } catch {
          rejected++;
        }
        concLatencies.push(performance.now() - t0);
      }
    }),
  );
  const concElapsed = performance.now() - concStart;
  const concTotal = CONCURRENT_CLIENTS * CONCURRENT_PER_CLIENT;
  const concThroughput = (concTotal - rejected) / (concElapsed / 1000);
  const batches = server.queueStats().batches - batchesBefore;

  // Stages, averaged over the sequential run.
  const stages = ['tokenize', 'subject', 'sae', 'av', 'ar'] as const;
  const mean = (f: (r: AnalyzeResponse) => number) => results.reduce((s, r) => s + f(r), 0) / results.length;
  const stageMeans = Object.fromEntries(stages.map((s) => [s, mean((r) => r.timings_ms[s])])) as Record<(typeof stages)[number], number>;
  const engineTotal = mean((r) => r.timings_ms.total);
  const queueMean = mean((r) => r.timings_ms.queue);
  const overheads = results.map((r, i) => latencies[i] - r.timings_ms.total - r.timings_ms.queue);
  const dominant = stages.reduce((a, b) => (stageMeans[a] >= stageMeans[b] ? a : b));
  const generatedChars = mean((r) => r.positions[0].explanations[0]?.raw.length ?? 0);

  // Activation wire formats, 3584-d (Qwen2.5-7B's d_model).
  const d = 3584;
  const v = new Float32Array(d);
  for (let i = 0; i < d; i++) v[i] = Math.sin(i * 0.37) * 12.5 + Math.cos(i) * 0.001;
  const iterations = 2000;
  let sink = 0;
  const b64Start = performance.now();
  let b64Bytes = 0;
  for (let i = 0; i < iterations; i++) {
    const s = encodeActivation(v);
    b64Bytes = s.length;
    sink += decodeActivation(s)[i % d];
  }
  const b64Ms = (performance.now() - b64Start) / iterations;
  const jsonStart = performance.now();
  let jsonBytes = 0;
  for (let i = 0; i < iterations; i++) {
    const s = JSON.stringify(Array.from(v));
    jsonBytes = s.length;
    sink += Float32Array.from(JSON.parse(s) as number[])[i % d];
  }
  const jsonMs = (performance.now() - jsonStart) / iterations;
  if (Number.isNaN(sink)) throw new Error('unreachable');

  await client.close();
  await server.close();

  // How the engine's cost grows with the batch: the ceiling on what batching can gain.
  const scaling: Array<{ size: number; ms: number }> = [];
  for (const size of [1, 4, 8, 16]) {
    const batch = (r: number) =>
      Array.from({ length: size }, (_, i) => ({ ...request(50_000 + r * 100 + i), positions: undefined, temperature: 0, return_activations: false, seed: undefined }));
    await engine.analyzeBatch(batch(0)); // first run of a new shape pays ORT's allocation planning
    const t0 = performance.now();
    for (let r = 1; r <= 3; r++) await engine.analyzeBatch(batch(r));
    scaling.push({ size, ms: (performance.now() - t0) / 3 });
  }
  await engine.close();

  // The same two phases against `confab worker` in its own process, as deployed: the clients'
  // HTTP and zod work no longer shares the engine's event loop.
  const separate = await measureSeparateProcess(request);

  const p50 = percentile(latencies, 50);
  const p95 = percentile(latencies, 95);
  const ratio = concThroughput / seqThroughput;
  const lines = [
    `### Worker (\`npm run bench:worker\`), ${new Date().toISOString().slice(0, 10)}`,
    '',
    `Machine: ${os.cpus().length} CPU cores (${os.cpus()[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, onnxruntime-node CPU EP.`,
    `Workload: reference stack, ${first.tokens.length}-token prompt, last position, 1 NLA sample (≤ 64 new tokens, greedy), AR scored, top_k 8, over HTTP with X-SECRET-KEY.`,
    '',
    '| measure | value | target |',
    '|---|---|---|',
    `| /v1/analyze one at a time, p50 | ${fmt(p50)} ms | ≤ 40 ms |`,
    `| /v1/analyze one at a time, p95 | ${fmt(p95)} ms | |`,
    `| throughput one at a time | ${seqThroughput.toFixed(1)} req/s (${SEQUENTIAL} requests) | |`,
    `| throughput, ${CONCURRENT_CLIENTS} concurrent clients | ${concThroughput.toFixed(1)} req/s (${concTotal} requests, ${batches} batches, mean batch ${(concTotal / Math.max(1, batches)).toFixed(1)}, ${rejected} rejected) | |`,
    `| concurrent / one at a time | ${ratio.toFixed(2)}× | ≥ 3× |`,
    `| separate worker process (\`confab worker\`): one at a time p50; throughput one at a time / ${CONCURRENT_CLIENTS} clients | ${fmt(separate.p50)} ms; ${separate.seq.toFixed(1)} / ${separate.conc.toFixed(1)} req/s | |`,
    `| separate worker process: concurrent / one at a time | ${(separate.conc / separate.seq).toFixed(2)}× | ≥ 3× |`,
    `| latency under ${CONCURRENT_CLIENTS} clients, p50 / p95 | ${fmt(percentile(concLatencies, 50))} / ${fmt(percentile(concLatencies, 95))} ms | |`,
    `| 3584-d activation encode+decode, base64 f32 | ${(b64Ms * 1000).toFixed(1)} µs, ${b64Bytes} bytes | |`,
    `| 3584-d activation encode+decode, JSON floats | ${(jsonMs * 1000).toFixed(1)} µs, ${jsonBytes} bytes | |`,
    `| JSON / base64 (time; size) | ${(jsonMs / b64Ms).toFixed(1)}×; ${(jsonBytes / b64Bytes).toFixed(1)}× | reported |`,
    '',
    'Time per stage, one at a time (mean of the worker\'s `timings_ms`):',
    '',
    '| stage | ms | share of engine total |',
    '|---|---|---|',
    ...stages.map((s) => `| ${s} | ${stageMeans[s].toFixed(2)} | ${((100 * stageMeans[s]) / engineTotal).toFixed(0)}% |`),
    `| engine total | ${engineTotal.toFixed(2)} | |`,
    `| queue (batch window ${BATCH_WINDOW_MS} ms) | ${queueMean.toFixed(2)} | |`,
    `| HTTP + JSON + client validation (median of latency − engine total − queue) | ${percentile(overheads, 50).toFixed(2)} | |`,
    '',
    'Engine cost by batch size (`engine.analyzeBatch` directly, same workload, mean of 3):',
    '',
    '| batch size | ms per batch | ms per request |',
    '|---|---|---|',
    ...scaling.map((x) => `| ${x.size} | ${x.ms.toFixed(0)} | ${(x.ms / x.size).toFixed(0)} |`),
    '',
    `Dominant stage: **${dominant}** (mean generated length ${generatedChars.toFixed(0)} characters).`,
  ];
  console.log(lines.join('\n'));
  console.log(`\n(load average during the run: ${os.loadavg().map((x) => x.toFixed(1)).join(' / ')})`);
}

/** One-at-a-time and 16-client throughput against a `confab worker` child process. */
async function measureSeparateProcess(request: (i: number) => { prompt: string; nla_samples: number; max_new_tokens: number; top_k: number }) {
  const bin = path.resolve(import.meta.dirname, '..', '..', 'bin', 'confab.mjs');
  const child = spawn(process.execPath, [bin, 'worker', '--port', '0'], {
    env: { ...process.env, CONFAB_WORKER_SECRET: SECRET, CONFAB_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`confab worker exited with ${code} before listening`)));
    });
    const client = createInferenceClient({ urls: [url], secret: SECRET, timeoutMs: 60_000, retries: 0 });
    for (let i = 0; i < 20; i++) await client.analyze(request(70_000 + i));
    const lat: number[] = [];
    const seqStart = performance.now();
    for (let i = 0; i < SEQUENTIAL; i++) {
      const t0 = performance.now();
      await client.analyze(request(80_000 + i));
      lat.push(performance.now() - t0);
    }
    const seq = SEQUENTIAL / ((performance.now() - seqStart) / 1000);
    const concStart = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENT_CLIENTS }, async (_, c) => {
        for (let k = 0; k < CONCURRENT_PER_CLIENT; k++) await client.analyze(request(90_000 + c * 1000 + k));
      }),
    );
    const conc = (CONCURRENT_CLIENTS * CONCURRENT_PER_CLIENT) / ((performance.now() - concStart) / 1000);
    await client.close();
    return { p50: percentile(lat, 50), seq, conc };
  } finally {
    child.kill('SIGTERM');
  }
}

await main();
