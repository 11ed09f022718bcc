/**
 * `npm run bench:discord`: how fast the Discord channel acknowledges, measured against the local
 * Discord-compatible server with a real discord.js Client, the real core on PGlite, and the
 * embedded worker on the reference stack running the analyses in the same process.
 *
 * The bot is the real product: `confab start` in its own process (embedded worker, PGlite,
 * the Discord channel), pointed at the fake with DISCORD_API_BASE, so the fake's bookkeeping
 * does not share the bot's event loop.
 *
 * Measures (targets from issue 6):
 * - INTERACTION_CREATE sent → defer callback received, with 50 concurrent /explain: p99 ≤ 200 ms;
 * - button click → ephemeral ack (deferred ephemeral reply) received: p99 ≤ 100 ms.
 * Each is also measured one at a time, side by side, so the cost of concurrency shows as a ratio.
 *
 * Times are taken on the server side of the fake: gateway dispatch → HTTP request arrival.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { FakeDiscord, type FakeMember } from '../fakes/discord/server';
import { HAS_REFERENCE_STACK } from '../platforms/discord/harness';

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

async function main() {
  if (!HAS_REFERENCE_STACK) {
    console.error('models/reference/manifest.yaml is missing; the Discord bench needs the reference stack.');
    process.exit(1);
  }
  const fake = await FakeDiscord.start();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'confab-discord-bench-'));
  const bot = await startBot(fake, dataDir);
  const members: FakeMember[] = Array.from({ length: CONCURRENT }, (_, i) => ({ id: String(3_000_000_000_000_000_000n + BigInt(i)), username: `reviewer${i}` }));
  const prompts = ['The quick brown fox jumps over the lazy dog', 'A la tercera va la vencida', 'kernel panic: attempted to kill init', 'Chi va piano va sano e va lontano'];

  async function explainOnce(member: FakeMember, prompt: string) {
    const interaction = fake.slash('explain', { prompt }, member);
    const callback = await fake.waitForCallback(interaction, 60_000);
    const final = await fake.waitForWebhook(interaction, 'PATCH', 120_000, 1);
    return { interaction, defer: callback.at - interaction.dispatchedAt, result: final.at - interaction.dispatchedAt };
  }

  // Warm-up: JIT, the first PGlite queries and the ONNX sessions.
  for (let i = 0; i < 3; i++) await explainOnce(members[0], prompts[i % prompts.length]);

  const serialDefer: number[] = [];
  for (let i = 0; i < 20; i++) serialDefer.push((await explainOnce(members[i % CONCURRENT], prompts[i % prompts.length])).defer);

  const concurrentDefer: number[] = [];
  const concurrentResult: number[] = [];
  const messages: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const runs = await Promise.all(members.map((m, i) => explainOnce(m, `${prompts[i % prompts.length]} (${round}.${i})`)));
    for (const r of runs) {
      concurrentDefer.push(r.defer);
      concurrentResult.push(r.result);
      const message = fake.channelMessages().find((m) => m.interactionId === r.interaction.id);
      if (message) messages.push(message.id);
    }
  }

  // Clicks: one reviewer at a time (serial), then 10 at once; each on a different explanation
  // and member so every click is a real vote, not a duplicate.
  const buttonsOf = (messageId: string) => fake.messages.get(messageId)!.components.flatMap((row: any) => row.components.map((c: any) => c.custom_id as string));
  async function click(i: number) {
    const messageId = messages[i % messages.length];
    const voteButton = buttonsOf(messageId).find((id) => id.startsWith('v:') && id.endsWith(':u'))!;
    const member = members[Math.floor(i / messages.length) % members.length];
    const interaction = fake.button(voteButton, messageId, member);
    const ack = await fake.waitForCallback(interaction, 60_000);
    if (ack.body.type !== 5 || ack.body.data?.flags !== 64) throw new Error(`expected a deferred ephemeral ack, got ${JSON.stringify(ack.body)}`);
    const reply = await fake.waitForWebhook(interaction, 'PATCH', 60_000);
    return { ack: ack.at - interaction.dispatchedAt, reply: reply.at - interaction.dispatchedAt };
  }
  const serialAck: number[] = [];
  const serialReply: number[] = [];
  for (let i = 0; i < Math.min(50, CLICKS); i++) {
    const r = await click(i);
    serialAck.push(r.ack);
    serialReply.push(r.reply);
  }
  const concurrentAck: number[] = [];
  const concurrentReply: number[] = [];
  for (let start = 50; start < 50 + CLICKS; start += 10) {
    const batch = await Promise.all(Array.from({ length: 10 }, (_, k) => click(start + k)));
    for (const r of batch) {
      concurrentAck.push(r.ack);
      concurrentReply.push(r.reply);
    }
  }

  const rows = [
    summary('/explain defer, one at a time', serialDefer),
    summary(`/explain defer, ${CONCURRENT} concurrent`, concurrentDefer),
    summary(`/explain result edit, ${CONCURRENT} concurrent`, concurrentResult),
    summary('vote click → ephemeral ack, one at a time', serialAck),
    summary('vote click → ephemeral ack, 10 concurrent', concurrentAck),
    summary('vote click → vote shown (edit), 10 concurrent', concurrentReply),
  ];
  console.table(rows);
  const p99Defer = rows[1].p99_ms;
  const p99Ack = rows[4].p99_ms;
  console.log(`concurrency cost (p99 defer, ${CONCURRENT} concurrent / serial): ${(p99Defer / rows[0].p99_ms).toFixed(2)}x; p50 ${(rows[1].p50_ms / rows[0].p50_ms).toFixed(1)}x`);
  console.log(`target /explain defer p99 ≤ 200 ms: ${p99Defer} ms → ${p99Defer <= 200 ? 'met' : 'NOT met'}`);
  console.log(`target click ack p99 ≤ 100 ms: ${p99Ack} ms → ${p99Ack <= 100 ? 'met' : 'NOT met'}`);
  console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log(`bench wall time ${(performance.now() / 1000).toFixed(1)} s`);
  const exit = await stopBot(bot);
  console.log(`SIGTERM → bot exited with code ${exit.code} in ${exit.ms.toFixed(0)} ms`);
  await fake.close();
  await rm(dataDir, { recursive: true, force: true });
}

/** `confab start` with the Discord channel, connected to the fake; resolves once commands are registered. */
async function startBot(fake: FakeDiscord, dataDir: string): Promise<ChildProcess> {
  const bot = spawn(process.execPath, [path.resolve(import.meta.dirname, '../../bin/confab.mjs'), 'start'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      CONFAB_DATA_DIR: dataDir,
      CONFAB_INSTALL_SECRET: 'discord-bench-install-secret',
      CONFAB_RATE_LIMIT_PER_MINUTE: '10000',
      CONFAB_LOG_LEVEL: 'warn',
      DISCORD_TOKEN: fake.token,
      DISCORD_APPLICATION_ID: fake.applicationId,
      DISCORD_GUILD_ID: fake.guildId,
      DISCORD_API_BASE: fake.apiBase,
      DISCORD_REGISTER_ON_START: '1',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<never>((_, reject) => bot.once('exit', (code) => reject(new Error(`confab start exited early with code ${code}`))));
  await Promise.race([fake.waitForRequest((r) => r.method === 'PUT' && r.path.endsWith('/commands'), 120_000), exited]);
  return bot;
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
