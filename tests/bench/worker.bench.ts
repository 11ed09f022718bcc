/**
 * `npm run bench:worker`: the inference worker on the reference stack over real HTTP.
 *
 * Workload (issue 3): a ~64-token prompt, last position, 1 NLA sample of at most 64 tokens,
 * AR scored. Measures, in one run so the ratios compare like with like:
 * - /v1/analyze latency one request at a time (p50, p95; target p50 ≤ 40 ms);
 * - throughput with 16 concurrent clients vs one at a time (target ≥ 3×), for the engine as
 *   served (on its threads, CONFAB_ENGINE_THREADS' default), on one thread, and on the event
 *   loop (how it ran before engine threads), in alternating rounds;
 * - the same against a separate `confab worker` process, as deployed;
 * - AV generation with the per-layer cache returned every step vs the time-major cache grown in
 *   place, side by side;
 * - encode+decode of a 3584-d activation, base64 float32 vs a JSON float list;
 * - time per stage (from the worker's timings_ms) and which stage dominates;
 * - the Neuronpedia routes (neuronpedia-routes.ts): topk-by-token and one-position /explain
 *   p50, beside BENCH_BASE_TREE's worker when set, and a streamed /explain's first event.
 * Prints a Markdown block for BENCHMARKS.md. BENCH_PART=neuronpedia runs the last part alone.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { REFERENCE_MODELS } from '../../src/config';
import { createInferenceClient } from '../../src/inference';
import { decodeActivation, encodeActivation, type AnalyzeResponse } from '../../src/protocol/analyze';
import type { Engine } from '../../src/worker/engine';
import { OnnxAvBackend } from '../../src/worker/runtime/av-onnx';
import { createEngine, type RuntimeEngine } from '../../src/worker/runtime/engine';
import { createThreadedEngine, defaultEngineThreads } from '../../src/worker/thread/engine-thread';
import { createWorkerServer } from '../../src/worker/server';
import { benchNeuronpediaRoutes } from './neuronpedia-routes';

const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 120);
const CONCURRENT_CLIENTS = 16;
const CONCURRENT_PER_CLIENT = Number(process.env.BENCH_PER_CLIENT ?? 15);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const SECRET = 'bench-secret-0123456789';
const BATCH_WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 0);
/** The queue's regroup pause after a batch (BENCH_REGROUP_MS=0 turns it off, for comparison). */
const REGROUP_MS = process.env.BENCH_REGROUP_MS === undefined ? undefined : Number(process.env.BENCH_REGROUP_MS);

// 63 bytes + BOS = 64 tokens on the byte-level reference tokenizer. Varied per request so no
// layer of the stack can serve a cached answer.
const BASE = 'The Jargon File says a hacker enjoys exploring programmable syst';
const prompt = (i: number) => `${BASE.slice(0, 63 - String(i).length)}${i}`;
const request = (i: number) => ({ prompt: prompt(i), nla_samples: 1, max_new_tokens: 64, top_k: 8 });

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const median = (xs: number[]) => percentile(xs, 50);
const fmt = (ms: number) => ms.toFixed(1);

interface PhaseResult {
  latencies: number[];
  results: AnalyzeResponse[];
  seq: number;
  conc: number;
  concLatencies: number[];
  batches: number;
  rejected: number;
  /** Busy share of the event loop that serves HTTP, during the 16-client phase. */
  loopBusy: number;
}

/** One-at-a-time, then 16 closed-loop clients, against `url`. */
async function phases(url: string, base: number, stats?: () => { batches: number }): Promise<PhaseResult> {
  const client = createInferenceClient({ urls: [url], secret: SECRET, timeoutMs: 60_000, retries: 0 });
  for (let i = 0; i < 20; i++) await client.analyze(request(base + i)); // warm-up: JIT, ORT arenas
  const latencies: number[] = [];
  const results: AnalyzeResponse[] = [];
  const seqStart = performance.now();
  for (let i = 0; i < SEQUENTIAL; i++) {
    const t0 = performance.now();
    results.push(await client.analyze(request(base + 100 + i)));
    latencies.push(performance.now() - t0);
  }
  const seq = SEQUENTIAL / ((performance.now() - seqStart) / 1000);

  const concLatencies: number[] = [];
  const batchesBefore = stats?.().batches ?? 0;
  let rejected = 0;
  const elu = performance.eventLoopUtilization();
  const concStart = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENT_CLIENTS }, async (_, c) => {
      for (let k = 0; k < CONCURRENT_PER_CLIENT; k++) {
        const t0 = performance.now();
        try {
          await client.analyze(request(base + 10_000 + c * 1000 + k));
        } catch {
          rejected++;
        }
        concLatencies.push(performance.now() - t0);
      }
    }),
  );
  const concTotal = CONCURRENT_CLIENTS * CONCURRENT_PER_CLIENT;
  const conc = (concTotal - rejected) / ((performance.now() - concStart) / 1000);
  const loopBusy = performance.eventLoopUtilization(elu).utilization;
  await client.close();
  return { latencies, results, seq, conc, concLatencies, batches: (stats?.().batches ?? 0) - batchesBefore, rejected, loopBusy };
}

/** The worker server in this process, on `engine`. */
async function inProcess(engine: Engine, base: number): Promise<PhaseResult> {
  const server = await createWorkerServer({ engine, secret: SECRET, port: 0, batchWindowMs: BATCH_WINDOW_MS, regroupMs: REGROUP_MS });
  try {
    return await phases(server.url, base, () => server.queueStats());
  } finally {
    await server.close();
  }
}

/** `confab worker` in its own process, as deployed (default engine threads). */
async function separateProcess(base: number): Promise<PhaseResult> {
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
    return await phases(url, base);
  } finally {
    child.kill('SIGTERM');
  }
}

/** AV generation alone: the per-layer cache returned each step vs the time-major cache grown in place. */
async function avLayouts(engine: RuntimeEngine) {
  const spec = engine.manifest.nla!.av;
  const open = (kv_cache?: string) =>
    OnnxAvBackend.fromContext({ manifest: engine.manifest, spec: { ...spec, options: { ...spec.options, ...(kv_cache ? { kv_cache } : {}) } }, tokenizer: engine.nla!.avTokenizer, executionProvider: 'cpu' });
  const layouts = { 'per-layer, returned each step (before)': await open('split'), 'time-major, grown in place (now)': await open() };
  const analyses = (await engine.analyzeBatch(Array.from({ length: 16 }, (_, i) => ({ ...request(60_000 + i), positions: undefined, temperature: 0, return_activations: true, seed: undefined, nla_samples: 0 })))) as AnalyzeResponse[];
  const prompts = analyses.map((a) => engine.nla!.builder.build(decodeActivation(a.positions[0].activation!)));
  const sampling = { samples: 1, temperature: 0, maxNewTokens: 64 };
  const rows: Array<{ layout: string; batch: number; ms: number }> = [];
  for (const batch of [1, 16]) {
    for (const b of Object.values(layouts)) await b.generateIds(prompts.slice(0, batch), sampling);
    const times = new Map<string, number[]>();
    for (let r = 0; r < 10; r++) {
      for (const [name, b] of Object.entries(layouts)) {
        const t0 = performance.now();
        await b.generateIds(prompts.slice(0, batch), sampling);
        times.set(name, [...(times.get(name) ?? []), performance.now() - t0]);
      }
    }
    for (const [layout, ms] of times) rows.push({ layout, batch, ms: median(ms) });
  }
  for (const b of Object.values(layouts)) await b.close();
  return rows;
}

async function main() {
  const local = await createEngine(REFERENCE_MODELS, { executionProvider: 'cpu' });
  const servedThreads = defaultEngineThreads('cpu');
  const threaded = await createThreadedEngine(REFERENCE_MODELS, { threads: servedThreads });
  // Measured with every thread loaded, not while the second still loads.
  await threaded.whenAllLoaded();
  const modes: Array<{ name: string; engine: Engine }> = [
    { name: `engine threads (${servedThreads}, the default here)`, engine: threaded },
    { name: 'one engine thread', engine: await createThreadedEngine(REFERENCE_MODELS, { threads: 1 }) },
    { name: 'engine on the event loop (before)', engine: local },
  ];
  const runs = new Map<string, PhaseResult[]>(modes.map((m) => [m.name, []]));
  let base = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of round % 2 === 0 ? modes : [...modes].reverse()) {
      runs.get(mode.name)!.push(await inProcess(mode.engine, (base += 100_000)));
    }
  }
  const separate = await separateProcess((base += 100_000));

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

  // How the engine's cost grows with the batch: the ceiling on what batching can gain.
  const scaling: Array<{ size: number; ms: number }> = [];
  for (const size of [1, 4, 8, 16]) {
    const batch = (r: number) =>
      Array.from({ length: size }, (_, i) => ({ ...request(50_000 + r * 100 + i), positions: undefined, temperature: 0, return_activations: false, seed: undefined }));
    await local.analyzeBatch(batch(0)); // first run of a new shape pays ORT's allocation planning
    const t0 = performance.now();
    for (let r = 1; r <= 5; r++) await local.analyzeBatch(batch(r));
    scaling.push({ size, ms: (performance.now() - t0) / 5 });
  }
  const av = await avLayouts(local);
  for (const m of modes) await m.engine.close();

  const served = runs.get(modes[0].name)!;
  const first = served[0];
  const latencies = served.flatMap((r) => r.latencies);
  const results = served.flatMap((r) => r.results);
  const stages = ['tokenize', 'subject', 'sae', 'av', 'ar'] as const;
  const mean = (f: (r: AnalyzeResponse) => number) => results.reduce((s, r) => s + f(r), 0) / results.length;
  const stageMeans = Object.fromEntries(stages.map((s) => [s, mean((r) => r.timings_ms[s])])) as Record<(typeof stages)[number], number>;
  const engineTotal = mean((r) => r.timings_ms.total);
  const queueMean = mean((r) => r.timings_ms.queue);
  const overheads = results.map((r, i) => latencies[i] - r.timings_ms.total - r.timings_ms.queue);
  const dominant = stages.reduce((a, b) => (stageMeans[a] >= stageMeans[b] ? a : b));
  const generatedChars = mean((r) => r.positions[0].explanations[0]?.raw.length ?? 0);
  const concTotal = CONCURRENT_CLIENTS * CONCURRENT_PER_CLIENT;
  const modeRow = (name: string, r: PhaseResult, i: number) =>
    `| ${name} | ${i + 1} | ${fmt(percentile(r.latencies, 50))} / ${fmt(percentile(r.latencies, 95))} | ${r.seq.toFixed(1)} | ${r.conc.toFixed(1)} (mean batch ${r.batches ? (concTotal / r.batches).toFixed(1) : '—'}, ${r.rejected} rejected) | **${(r.conc / r.seq).toFixed(2)}×** | ${r.loopBusy.toFixed(2)} |`;

  const lines = [
    `### Worker (\`npm run bench:worker\`), ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${os.cpus().length} CPU cores (${os.cpus()[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, onnxruntime-node CPU EP; load average at the end ${os.loadavg().map((x) => x.toFixed(1)).join(' / ')}.`,
    `Workload: reference stack, ${first.results[0].tokens.length}-token prompt, last position, 1 NLA sample (≤ 64 new tokens, greedy), AR scored, top_k 8, over HTTP with X-SECRET-KEY; ${SEQUENTIAL} requests one at a time, then ${CONCURRENT_CLIENTS} clients × ${CONCURRENT_PER_CLIENT}. Modes alternate over ${ROUNDS} rounds; clients and server share this process's event loop.`,
    '',
    '| engine | round | one at a time p50 / p95 ms | req/s one at a time | req/s, 16 clients | concurrent / one at a time (target ≥ 3×) | event loop busy, 16 clients |',
    '|---|---|---|---|---|---|---|',
    ...modes.flatMap((m) => runs.get(m.name)!.map((r, i) => modeRow(m.name, r, i))),
    `| \`confab worker\` child process (${servedThreads} engine threads) | 1 | ${fmt(percentile(separate.latencies, 50))} / ${fmt(percentile(separate.latencies, 95))} | ${separate.seq.toFixed(1)} | ${separate.conc.toFixed(1)} | **${(separate.conc / separate.seq).toFixed(2)}×** | |`,
    '',
    '| measure | value | target |',
    '|---|---|---|',
    `| /v1/analyze one at a time, p50 (served engine, all rounds) | ${fmt(percentile(latencies, 50))} ms | ≤ 40 ms |`,
    `| /v1/analyze one at a time, p95 | ${fmt(percentile(latencies, 95))} ms | |`,
    `| latency under ${CONCURRENT_CLIENTS} clients, p50 / p95 (served engine, round 1) | ${fmt(percentile(first.concLatencies, 50))} / ${fmt(percentile(first.concLatencies, 95))} ms | |`,
    `| 3584-d activation encode+decode, base64 f32 | ${(b64Ms * 1000).toFixed(1)} µs, ${b64Bytes} bytes | |`,
    `| 3584-d activation encode+decode, JSON floats | ${(jsonMs * 1000).toFixed(1)} µs, ${jsonBytes} bytes | |`,
    `| JSON / base64 (time; size) | ${(jsonMs / b64Ms).toFixed(1)}×; ${(jsonBytes / b64Bytes).toFixed(1)}× | reported |`,
    '',
    "Time per stage, one at a time (mean of the worker's `timings_ms`, served engine):",
    '',
    '| stage | ms | share of engine total |',
    '|---|---|---|',
    ...stages.map((s) => `| ${s} | ${stageMeans[s].toFixed(2)} | ${((100 * stageMeans[s]) / engineTotal).toFixed(0)}% |`),
    `| engine total | ${engineTotal.toFixed(2)} | |`,
    `| queue (batch window ${BATCH_WINDOW_MS} ms) | ${queueMean.toFixed(2)} | |`,
    `| HTTP + JSON + client validation + thread hop (median of latency − engine total − queue) | ${percentile(overheads, 50).toFixed(2)} | |`,
    '',
    `Dominant stage: **${dominant}** (mean generated length ${generatedChars.toFixed(0)} characters).`,
    '',
    'Engine cost by batch size (`engine.analyzeBatch` on one engine directly, same workload, mean of 5):',
    '',
    '| batch size | ms per batch | ms per request |',
    '|---|---|---|',
    ...scaling.map((x) => `| ${x.size} | ${x.ms.toFixed(1)} | ${(x.ms / x.size).toFixed(2)} |`),
    '',
    'AV generation alone (greedy, ≤ 64 tokens; the two cache layouts alternated, median of 10):',
    '',
    '| cache | batch | ms | ms per row |',
    '|---|---|---|---|',
    ...av.map((r) => `| ${r.layout} | ${r.batch} | ${r.ms.toFixed(1)} | ${(r.ms / r.batch).toFixed(2)} |`),
  ];
  console.log(lines.join('\n'));
}

const neuronpediaPart = () => benchNeuronpediaRoutes({ rounds: ROUNDS * 2, perRound: Number(process.env.BENCH_NP_PER_ROUND ?? 40), baseTree: process.env.BENCH_BASE_TREE });
if (process.env.BENCH_PART !== 'neuronpedia') await main();
console.log((await neuronpediaPart()).join('\n'));
