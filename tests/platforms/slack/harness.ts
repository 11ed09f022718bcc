/**
 * End-to-end harness: the local Slack fake, a real Bolt App running the Confab channel (Socket
 * Mode or HTTP mode), and the real core (PGlite in a temporary folder) with a real inference
 * backend, the same gated reference worker the Discord tests use.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { allCommands } from '../../../commands';
import { loadConfig, type Config } from '../../../src/config';
import { captureLogger } from '../capture-logger';
import { createServices, type Services } from '../../../src/core/app';
import type { AnalysisBackend } from '../../../src/core/backend';
import { invokeCommand } from '../../../commands/invoke';
import { startSlackApp, type RunningSlackChannel } from '../../../src/platforms/slack/channel';
import { configureSlack, type SlackConfig } from '../../../src/platforms/slack/module';
import { FakeSlack, type FakeUser, type Mode } from '../../fakes/slack/server';

export { HAS_REFERENCE_STACK, referenceBackend, type GatedBackend } from '../discord/harness';

export const USERS: Record<'ana' | 'bo' | 'cy' | 'dee', FakeUser> = {
  ana: { id: 'U0ANA', name: 'ana', admin: true },
  bo: { id: 'U0BO', name: 'bo' },
  cy: { id: 'U0CY', name: 'cy' },
  dee: { id: 'U0DEE', name: 'dee' },
};

export interface Harness {
  fake: FakeSlack;
  mode: Mode;
  config: Config;
  slack: SlackConfig;
  services: Services;
  channel: RunningSlackChannel;
  errors: string[];
  warnings: string[];
  /** Stop the channel and start a new one (a bot restart; the core and database stay). */
  restartChannel(): Promise<void>;
  close(): Promise<void>;
}

export function slackConfigFor(fake: FakeSlack, mode: Mode): SlackConfig {
  return configureSlack({
    SLACK_BOT_TOKEN: fake.botToken,
    ...(mode === 'socket' ? { SLACK_APP_TOKEN: fake.appToken } : { SLACK_SIGNING_SECRET: fake.signingSecret }),
    SLACK_PORT: '0',
    SLACK_API_URL: fake.apiUrl,
  })!;
}

export async function startHarness(options: { backend: AnalysisBackend | null; mode: Mode; env?: Record<string, string> }): Promise<Harness> {
  const fake = await FakeSlack.start(Object.values(USERS));
  fake.mode = options.mode;
  const dataDir = await mkdtemp(path.join(tmpdir(), 'confab-slack-'));
  const config = loadConfig({ CONFAB_DATA_DIR: dataDir, CONFAB_INSTALL_SECRET: 'slack-e2e-install-secret', CONFAB_RATE_LIMIT_PER_MINUTE: '1000', ...options.env });
  const slack = slackConfigFor(fake, options.mode);
  const captured = captureLogger();
  const errors = captured.errors;
  const warnings: string[] = [];
  const log = { debug: () => undefined, info: () => undefined, warn: (m: string) => warnings.push(m), error: (m: string) => errors.push(m) };
  const services = await createServices(config, { backend: options.backend, pollMs: 200, logger: captured.logger });
  const start = async () => {
    const channel = await startSlackApp({ services, config: slack, commands: allCommands, invoke: invokeCommand, log });
    if (channel.port !== undefined) fake.botUrl = `http://127.0.0.1:${channel.port}/slack/events`;
    return channel;
  };
  const harness: Harness = {
    fake,
    mode: options.mode,
    config,
    slack,
    services,
    channel: await start(),
    errors,
    warnings,
    async restartChannel() {
      await harness.channel.stop();
      harness.channel = await start();
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

/** The action ids of a message's buttons, block by block. */
export function actionIds(blocks: any[]): string[][] {
  return blocks.filter((b) => b.type === 'actions').map((b) => b.elements.map((e: any) => e.action_id));
}

/** All mrkdwn/plain text of a message's blocks, joined. */
export function blockText(blocks: any[]): string {
  const out: string[] = [];
  const walk = (v: any) => {
    if (!v || typeof v !== 'object') return;
    if (typeof v.text === 'string') out.push(v.text);
    for (const [k, x] of Object.entries(v)) if (k !== 'text' || typeof x === 'object') walk(x);
  };
  walk(blocks);
  return out.join('\n');
}
