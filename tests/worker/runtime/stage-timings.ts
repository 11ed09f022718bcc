/**
 * Time per stage of one analyze on the reference stack, in-process (no HTTP): a ~64-token prompt,
 * last position, 1 greedy sample of at most 64 tokens, AR scored. Run with
 *   npx tsx tests/worker/runtime/stage-timings.ts [iterations]
 * The HTTP benchmark (`npm run bench:worker`) measures the whole route; this isolates the engine.
 */
import path from 'node:path';
import { AnalyzeRequestSchema, type AnalyzeResponse } from '../../../src/protocol/analyze';
import { createEngine } from '../../../src/worker/runtime/engine';

const iterations = Number(process.argv[2] ?? 50);
const engine = await createEngine(path.resolve(import.meta.dirname, '../../../models/reference'));
const prompt = 'Hacker slang: a kludge is a clever, ugly fix that works. Use it!'; // 64 chars + BOS
const request = AnalyzeRequestSchema.parse({ prompt, nla_samples: 1, max_new_tokens: 64 });

const stages = ['tokenize', 'subject', 'sae', 'av', 'ar', 'total'] as const;
const samples: Record<string, number[]> = Object.fromEntries(stages.map((s) => [s, []]));
let genTokens = 0;
for (let i = 0; i < 5; i++) await engine.analyzeBatch([request]);
for (let i = 0; i < iterations; i++) {
  const [r] = (await engine.analyzeBatch([request])) as AnalyzeResponse[];
  for (const s of stages) samples[s].push(r.timings_ms[s]);
  genTokens = engine.nla ? engine.tokenizer.encode(r.positions[0].explanations[0].raw, { allowSpecial: false }).ids.length : 0;
}
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
console.log(`reference stack, ${engine.tokenize(prompt).ids.length} prompt tokens, ${genTokens} generated tokens, ${iterations} runs`);
// min is printed too: on a shared machine it is the closest figure to an idle one.
for (const s of stages) {
  const xs = samples[s];
  console.log(`${s.padEnd(9)} min ${Math.min(...xs).toFixed(2).padStart(7)} ms   p50 ${pct(xs, 0.5).toFixed(2).padStart(7)} ms   p95 ${pct(xs, 0.95).toFixed(2).padStart(7)} ms`);
}

// Batched: 16 requests in one analyzeBatch vs 16 one at a time.
const many = Array.from({ length: 16 }, (_, i) => AnalyzeRequestSchema.parse({ prompt: `${prompt.slice(0, 40 + i)}`, nla_samples: 1, max_new_tokens: 64 }));
let t = performance.now();
for (const r of many) await engine.analyzeBatch([r]);
const serial = performance.now() - t;
t = performance.now();
const [first] = (await engine.analyzeBatch(many)) as AnalyzeResponse[];
const batched = performance.now() - t;
console.log('batch of 16, stages:', JSON.stringify(first.timings_ms));
console.log(`16 requests: one at a time ${serial.toFixed(1)} ms, one batch ${batched.toFixed(1)} ms (${(serial / batched).toFixed(2)}x)`);
await engine.close();
