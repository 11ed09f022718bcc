/**
 * The Neuronpedia routes' part of `npm run bench:worker`:
 * - `/v1/activation/topk-by-token` and `/explain` of one position, p50 one request at a time,
 *   against this tree and (with BENCH_BASE_TREE=<a worktree of an earlier commit>) that tree's
 *   worker side by side in alternating rounds, in one process, on the same reference stack;
 * - a streamed `/explain` of one position: when its meta frame and its first result arrive,
 *   against the same request answered whole (the description is ready when the whole answer
 *   could be written, so the difference is what streaming adds).
 * Both request bodies are valid on either tree's routes.
 */
import { silentLogger } from '../../src/log';
import path from 'node:path';
import { REFERENCE_MODELS } from '../../src/config';

const SECRET = 'bench-secret-0123456789';
const PROMPT = 'The Jargon File says a hacker enjoys exploring programmable syst';

interface ServedTree {
  name: string;
  url: string;
  close(): Promise<void>;
}

/** A worker of the tree at `root` (its own server and runtime code), on the event loop. */
async function serveTree(name: string, root: string): Promise<ServedTree> {
  const runtime = (await import(path.join(root, 'src/worker/runtime/engine.ts'))) as typeof import('../../src/worker/runtime/engine');
  const server = (await import(path.join(root, 'src/worker/server.ts'))) as typeof import('../../src/worker/server');
  const engine = await runtime.createEngine(REFERENCE_MODELS, { executionProvider: 'cpu' });
  const worker = await server.createWorkerServer({ engine, secret: SECRET, port: 0, log: silentLogger });
  return {
    name,
    url: worker.url,
    async close() {
      await worker.close();
      await engine.close();
    },
  };
}

async function timePost(url: string, body: unknown): Promise<number> {
  const t0 = performance.now();
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-secret-key': SECRET }, body: JSON.stringify(body) });
  await response.text();
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return performance.now() - t0;
}

/** Milliseconds to the meta frame and to the first result frame of a streamed /explain. */
async function timeStream(url: string, body: unknown): Promise<{ meta: number; first: number }> {
  const t0 = performance.now();
  const response = await fetch(`${url}/explain`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-secret-key': SECRET },
    body: JSON.stringify({ ...body as object, stream: true }),
  });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  let meta = Number.NaN;
  let first = Number.NaN;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    let at: number;
    while ((at = buffered.indexOf('\n\n')) >= 0) {
      const frame = buffered.slice(0, at);
      buffered = buffered.slice(at + 2);
      if (frame.includes('"total"') && Number.isNaN(meta)) meta = performance.now() - t0;
      else if (frame.includes('"description"') && Number.isNaN(first)) first = performance.now() - t0;
    }
  }
  return { meta, first };
}

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchNeuronpediaRoutes(options: { rounds: number; perRound: number; baseTree?: string }): Promise<string[]> {
  const trees: ServedTree[] = [await serveTree('this tree', path.resolve(import.meta.dirname, '../..'))];
  if (options.baseTree) trees.push(await serveTree(`base (${path.basename(options.baseTree)})`, path.resolve(options.baseTree)));
  const topk = new Map<string, number[]>(trees.map((t) => [t.name, []]));
  const explain = new Map<string, number[]>(trees.map((t) => [t.name, []]));
  const prompt = (i: number) => `${PROMPT.slice(0, 60)}${String(i).padStart(3, '0')}`;
  const explainBody = (i: number) => ({ text: prompt(i), positions: [-1], max_new_tokens: 64 });
  try {
    for (const t of trees) for (let i = 0; i < 10; i++) await timePost(`${t.url}/explain`, explainBody(i)); // warm-up
    for (let r = 0; r < options.rounds; r++) {
      // Alternate which tree goes first, so neither always follows the other's garbage.
      for (const t of r % 2 ? [...trees].reverse() : trees) {
        for (let i = 0; i < options.perRound; i++) topk.get(t.name)!.push(await timePost(`${t.url}/v1/activation/topk-by-token`, { prompt: prompt(i), model: 'm', source: 's' }));
        for (let i = 0; i < options.perRound; i++) explain.get(t.name)!.push(await timePost(`${t.url}/explain`, explainBody(100 + i)));
      }
    }
    const whole: number[] = [];
    const metas: number[] = [];
    const firsts: number[] = [];
    for (let i = 0; i < options.perRound * options.rounds; i++) {
      whole.push(await timePost(`${trees[0].url}/explain`, explainBody(500 + i)));
      const s = await timeStream(trees[0].url, explainBody(500 + i));
      metas.push(s.meta);
      firsts.push(s.first);
    }
    const [self, base] = trees.map((t) => t.name);
    const ratio = (m: Map<string, number[]>) => (base ? `${((p50(m.get(self)!) / p50(m.get(base)!) - 1) * 100).toFixed(1)}%` : '—');
    const row = (label: string, m: Map<string, number[]>) => `| ${label} | ${p50(m.get(self)!).toFixed(2)} | ${base ? p50(m.get(base)!).toFixed(2) : '—'} | ${ratio(m)} | within 5% |`;
    return [
      '',
      `Neuronpedia routes, one request at a time (${options.rounds} alternating rounds × ${options.perRound}, engines on the event loop, ${trees.length === 2 ? 'both trees in this process' : 'this tree only'}):`,
      '',
      `| route | p50 ms, this tree | p50 ms, ${base ?? 'base'} | change | target |`,
      '|---|---|---|---|---|',
      row('`/v1/activation/topk-by-token` (64 tokens, topK 5)', topk),
      row('`/explain`, one position (≤ 64 new tokens)', explain),
      '',
      '| streamed `/explain`, one position | p50 ms | target |',
      '|---|---|---|',
      `| whole answer (description ready and written) | ${p50(whole).toFixed(2)} | |`,
      `| stream: meta frame | ${p50(metas).toFixed(2)} | |`,
      `| stream: first result frame | ${p50(firsts).toFixed(2)} | |`,
      `| first result frame − whole answer | ${(p50(firsts) - p50(whole)).toFixed(2)} | ≤ 50 ms |`,
    ];
  } finally {
    for (const t of trees) await t.close();
  }
}
