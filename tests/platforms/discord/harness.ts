/**
 * End-to-end harness: the local Discord-compatible server, a real discord.js Client running the
 * Confab channel, and the real core (PGlite in a temporary folder) with a real inference
 * backend: the embedded worker on the reference stack, or an HTTP client pointed at a dead
 * port to play "worker down".
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, REFERENCE_MODELS, type Config } from '../../../src/config';
import { createServices, type Services } from '../../../src/core/app';
import type { AnalysisBackend } from '../../../src/core/backend';
import { createEmbeddedInferenceClient } from '../../../src/cli/embedded-worker';
import { createInferenceClient } from '../../../src/inference';
import { discordChannel, type DiscordConfig } from '../../../src/platforms/discord';
import type { RunningDiscordChannel } from '../../../src/platforms/discord/channel';
import { startDiscordChannel } from '../../../src/platforms/discord/start';
import { captureLogger } from '../capture-logger';
import { FakeDiscord, type FakeMember } from '../../fakes/discord/server';

/** True when the reference model stack is present, so analyses can really run. */
export const HAS_REFERENCE_STACK = existsSync(REFERENCE_MODELS);

export const MEMBERS: Record<'ana' | 'bo' | 'cy' | 'dee', FakeMember> = {
  ana: { id: '2000000000000000001', username: 'ana', admin: true },
  bo: { id: '2000000000000000002', username: 'bo' },
  cy: { id: '2000000000000000003', username: 'cy' },
  dee: { id: '2000000000000000004', username: 'dee' },
};

export interface Harness {
  fake: FakeDiscord;
  config: Config;
  discord: DiscordConfig;
  services: Services;
  channel: RunningDiscordChannel;
  errors: string[];
  /** Stop the channel and start a new one (a bot restart; the core and database stay). */
  restartChannel(): Promise<void>;
  close(): Promise<void>;
}

/** The reference worker, with two switches a test can throw. */
export interface GatedBackend extends AnalysisBackend {
  /** While set, every analysis waits for this promise before it reaches the worker. */
  gate: Promise<void> | null;
  /** While true, analyses go to a worker address nothing listens on (a real connection refused). */
  down: boolean;
}

/** The embedded worker on the reference stack (real ONNX, real HTTP on loopback). */
export async function referenceBackend(): Promise<GatedBackend> {
  const { createEngine } = await import('../../../src/worker/runtime/engine');
  const engine = await createEngine(REFERENCE_MODELS);
  const worker = await createEmbeddedInferenceClient({ engine, timeoutMs: 30_000 });
  const dead = deadWorkerBackend();
  const gated: GatedBackend = {
    gate: null,
    down: false,
    async analyze(request, signal) {
      if (gated.gate) await gated.gate;
      return (gated.down ? dead : worker).analyze(request, signal);
    },
    capabilities: (signal) => worker.capabilities(signal),
    async close() {
      await dead.close?.();
      await worker.close();
    },
  };
  return gated;
}

/** An inference client whose only worker is a port nothing listens on. */
export function deadWorkerBackend(): AnalysisBackend {
  return createInferenceClient({ urls: ['http://127.0.0.1:9'], timeoutMs: 2_000, retries: 0 });
}

export async function startHarness(options: { backend: AnalysisBackend | null; env?: Record<string, string> }): Promise<Harness> {
  const fake = await FakeDiscord.start();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'confab-discord-'));
  const env = {
    CONFAB_DATA_DIR: dataDir,
    CONFAB_INSTALL_SECRET: 'discord-e2e-install-secret',
    DISCORD_TOKEN: fake.token,
    DISCORD_APPLICATION_ID: fake.applicationId,
    DISCORD_GUILD_ID: fake.guildId,
    DISCORD_API_BASE: fake.apiBase,
    DISCORD_REGISTER_ON_START: '1',
    CONFAB_RATE_LIMIT_PER_MINUTE: '1000',
    ...options.env,
  };
  const config = loadConfig(env);
  const discord = discordChannel.configure(env)!;
  const { logger: log, errors } = captureLogger({ echoWarnings: Boolean(process.env.CONFAB_TEST_VERBOSE) });
  const services = await createServices(config, {
    backend: options.backend,
    pollMs: 200,
    logger: log,
  });
  const harness: Harness = {
    fake,
    config,
    discord,
    services,
    channel: await startDiscordChannel(services, discord, log),
    errors,
    async restartChannel() {
      await harness.channel.stop();
      harness.channel = await startDiscordChannel(services, discord, log);
    },
    async close() {
      await harness.channel.stop();
      await services.close();
      await fake.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return harness;
}

/** Custom ids of the buttons on a stored message, row by row. */
export function buttonIds(message: { components: any[] }): string[][] {
  return message.components.map((row) => row.components.map((c: { custom_id: string }) => c.custom_id));
}
