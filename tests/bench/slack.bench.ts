/**
 * `npm run bench:slack`: how fast the Slack channel acknowledges, in HTTP mode, measured
 * against the local Slack fake with the real product: `confab start` in its own process (Bolt
 * App, embedded worker on the reference stack, PGlite), pointed at the fake with SLACK_API_URL.
 *
 * Measures (targets from issue 13):
 * - signed `/confab explain` POST → HTTP 200 (the ack), with 50 concurrent: p99 ≤ 200 ms;
 * - vote click POST → HTTP 200 (the ack): p99 ≤ 100 ms.
 * Each is also measured one at a time, side by side, so the cost of concurrency shows as a ratio.
 * Times are taken on the fake's side: request sent → response received.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { FakeSlack, type FakeUser } from '../fakes/slack/server';
import { blockText, HAS_REFERENCE_STACK } from '../platforms/slack/harness';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const CONCURRENT = 50;
const CLICKS = Number(process.env.BENCH_CLICKS ?? 200);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function summary(name: string, values: number[]) {
  return { measure: name, n: values.length, p50_ms: +percentile(values, 50).toFixed(1), p99_ms: +percentile(values, 99).toFixed(1), max_ms: +Math.max(...values).toFixed(1) };
}

const headerOf = (blocks: any[]) => blocks.find((b) => b.type === 'header')?.text.text as string;

async function main() {
  if (!HAS_REFERENCE_STACK) {
    console.error('models/reference/manifest.yaml is missing; the Slack bench needs the reference stack.');
    process.exit(1);
  }
  const members: FakeUser[] = Array.from({ length: CONCURRENT }, (_, i) => ({ id: `U0BENCH${i}`, name: `reviewer${i}` }));
  const fake = await FakeSlack.start(members);
  fake.mode = 'http';
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'confab-slack-bench-'));
  const port = await freePort();
  fake.botUrl = `http://127.0.0.1:${port}/slack/events`;
  const bot = await startBot(fake, dataDir, port);
  const prompts = ['The quick brown fox jumps over the lazy dog', 'A la tercera va la vencida', 'kernel panic: attempted to kill init', 'Chi va piano va sano e va lontano'];

  async function explainOnce(member: FakeUser, prompt: string) {
    const from = fake.calls.length;
    const started = performance.now();
    const delivery = await fake.slash(`explain ${prompt}`, member);
    if (delivery.status !== 200) throw new Error(`explain answered ${delivery.status}`);
    const pending = await fake.waitFor((c) => c.method === 'chat.postMessage' && c.status === 200 && blockText(c.args.blocks).includes(prompt), 120_000, from);
    const ts = pending.result.ts as string;
    const final = await fake.waitFor((c) => c.method === 'chat.update' && c.args.ts === ts && !/· (queued|running)$/.test(headerOf(c.args.blocks)), 120_000, from);
    return { ts, ack: delivery.ms, result: final.at - started };
  }

  // Warm-up: JIT, the first PGlite queries and the ONNX sessions.
  for (let i = 0; i < 3; i++) await explainOnce(members[0], `${prompts[i % prompts.length]} (warm-up ${i})`);

  const serialAck: number[] = [];
  for (let i = 0; i < 20; i++) serialAck.push((await explainOnce(members[i % CONCURRENT], `${prompts[i % prompts.length]} (serial ${i})`)).ack);

  const concurrentAck: number[] = [];
  const concurrentResult: number[] = [];
  const messages: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const runs = await Promise.all(members.map((m, i) => explainOnce(m, `${prompts[i % prompts.length]} (${round}.${i})`)));
    for (const r of runs) {
      concurrentAck.push(r.ack);
      concurrentResult.push(r.result);
      messages.push(r.ts);
    }
  }

  // Clicks: one at a time, then 10 at once; each on a different explanation and member, so
  // every click is a real vote, not a duplicate.
  async function click(i: number) {
    const ts = messages[i % messages.length];
    const unsure = fake.messages.get(ts)!.blocks.filter((b: any) => b.type === 'actions').flatMap((b: any) => b.elements.map((e: any) => e.action_id as string)).find((id: string) => id.endsWith(':u'))!;
    const member = members[Math.floor(i / messages.length) % members.length];
    const from = fake.ephemerals.length;
    const started = performance.now();
    const delivery = await fake.click({ ts }, unsure, member);
    if (delivery.status !== 200) throw new Error(`click answered ${delivery.status}`);
    const reply = await fake.waitForEphemeral(member.id, () => true, from, 60_000);
    return { ack: delivery.ms, reply: reply.at - started };
  }
  const serialClick: number[] = [];
  const serialReply: number[] = [];
  for (let i = 0; i < Math.min(50, CLICKS); i++) {
    const r = await click(i);
    serialClick.push(r.ack);
    serialReply.push(r.reply);
  }
  const concurrentClick: number[] = [];
  const concurrentReply: number[] = [];
  for (let start = 50; start < 50 + CLICKS; start += 10) {
    const batch = await Promise.all(Array.from({ length: 10 }, (_, k) => click(start + k)));
    for (const r of batch) {
      concurrentClick.push(r.ack);
      concurrentReply.push(r.reply);
    }
  }

  const rows = [
    summary('/confab explain ack, one at a time', serialAck),
    summary(`/confab explain ack, ${CONCURRENT} concurrent`, concurrentAck),
    summary(`/confab explain result (chat.update), ${CONCURRENT} concurrent`, concurrentResult),
    summary('vote click → ack, one at a time', serialClick),
    summary('vote click → ack, 10 concurrent', concurrentClick),
    summary('vote click → ephemeral confirmation, 10 concurrent', concurrentReply),
  ];
  console.table(rows);
  const p99Ack = rows[1].p99_ms;
  const p99Click = rows[4].p99_ms;
  console.log(`concurrency cost (p99 ack, ${CONCURRENT} concurrent / serial): ${(p99Ack / rows[0].p99_ms).toFixed(2)}x; p50 ${(rows[1].p50_ms / rows[0].p50_ms).toFixed(1)}x`);
  console.log(`target /confab explain ack p99 ≤ 200 ms: ${p99Ack} ms → ${p99Ack <= 200 ? 'met' : 'NOT met'}`);
  console.log(`target vote click ack p99 ≤ 100 ms: ${p99Click} ms → ${p99Click <= 100 ? 'met' : 'NOT met'}`);
  const refused = fake.calls.filter((c) => c.refusal || (c.error && c.status === 200));
  console.log(`Web API calls: ${fake.calls.length}, refused or failed: ${refused.length}`);
  console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log(`bench wall time ${(performance.now() / 1000).toFixed(1)} s`);
  const exit = await stopBot(bot);
  console.log(`SIGTERM → bot exited with code ${exit.code} in ${exit.ms.toFixed(0)} ms`);
  await fake.close();
  await rm(dataDir, { recursive: true, force: true });
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `confab start` with the Slack channel in HTTP mode; resolves once it answers a signed request. */
async function startBot(fake: FakeSlack, dataDir: string, port: number): Promise<ChildProcess> {
  const bot = spawn(process.execPath, [path.resolve(import.meta.dirname, '../../bin/confab.mjs'), 'start'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      CONFAB_DATA_DIR: dataDir,
      CONFAB_INSTALL_SECRET: 'slack-bench-install-secret',
      CONFAB_RATE_LIMIT_PER_MINUTE: '10000',
      CONFAB_LOG_LEVEL: 'warn',
      SLACK_BOT_TOKEN: fake.botToken,
      SLACK_SIGNING_SECRET: fake.signingSecret,
      SLACK_PORT: String(port),
      SLACK_API_URL: fake.apiUrl,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  let exitCode: number | null = null;
  bot.once('exit', (code) => (exitCode = code));
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (exitCode !== null) throw new Error(`confab start exited early with code ${exitCode}`);
    const answer = await fake.postToBot(new URLSearchParams({ command: '/confab', text: 'help', team_id: fake.teamId, user_id: 'U0BENCH0', channel_id: fake.channelId }).toString()).catch(() => null);
    if (answer?.status === 200) return bot;
    if (Date.now() > deadline) throw new Error('confab start did not answer within 120 s');
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function stopBot(bot: ChildProcess): Promise<{ code: number | null; ms: number }> {
  const started = performance.now();
  const exited = new Promise<number | null>((resolve) => bot.once('exit', (code) => resolve(code)));
  bot.kill('SIGTERM');
  const code = await exited;
  return { code, ms: performance.now() - started };
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
