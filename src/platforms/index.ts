/**
 * The channel registry: which chat channels exist, which ones the configuration turns on, and
 * how `confab start` starts them.
 *
 * A chat channel is one folder, `src/platforms/<name>/`, whose `index.ts` exports
 *
 *     export async function startChannel(services: Services, log: ChannelLog): Promise<RunningChannel>
 *
 * and one entry in `CHAT_CHANNELS` below, whose `load` imports that folder. It is imported only
 * when its channel is enabled, so a terminal session never loads discord.js or Bolt. The
 * terminal channel is not listed: `confab start` runs it when no chat channel is enabled, or
 * with `--local`.
 */
import type { Config } from '../config';
import type { Services } from '../core/services';

/** Where channels write operational messages (stderr, so piped terminal output stays clean). */
export interface ChannelLog {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface RunningChannel {
  /**
   * Resolves when the channel ends by itself, e.g. the terminal at end of input or on /quit.
   * Chat channels run until stopped and leave it undefined.
   */
  readonly finished?: Promise<void>;
  /** Disconnects and waits for in-flight replies; called once, before the services close. */
  stop(): Promise<void>;
}

export type StartChannel = (services: Services, log: ChannelLog) => Promise<RunningChannel>;

export interface ChatChannelEntry {
  name: string;
  /** Whether the configuration enables this channel (its credentials are set). */
  enabled(config: Config): boolean;
  /** One line for `confab doctor`: how it would connect. Never includes a secret. */
  describe(config: Config): string;
  /** Imports the channel's folder; absent while the folder is not written yet. */
  load?: () => Promise<{ startChannel: StartChannel }>;
}

export const CHAT_CHANNELS: readonly ChatChannelEntry[] = [
  {
    name: 'discord',
    enabled: (config) => config.discord !== undefined,
    describe: (config) =>
      `Discord application ${config.discord?.applicationId}` +
      (config.discord?.guildId ? `, guild ${config.discord.guildId}` : ', all guilds') +
      (config.discord?.apiBase ? `, API ${config.discord.apiBase}` : ''),
    load: () => import('./discord'),
  },
  {
    name: 'slack',
    enabled: (config) => config.slack !== undefined,
    describe: (config) =>
      config.slack?.appToken
        ? 'Slack, Socket Mode'
        : `Slack, HTTP mode on port ${config.slack?.port} (POST /slack/events)`,
    load: () => import('./slack'),
  },
];

/** The chat channels this configuration turns on, in registry order. */
export function enabledChatChannels(config: Config): ChatChannelEntry[] {
  return CHAT_CHANNELS.filter((channel) => channel.enabled(config));
}

/** Import a chat channel's folder and start it. */
export async function startChatChannel(entry: ChatChannelEntry, services: Services, log: ChannelLog): Promise<RunningChannel> {
  if (!entry.load) {
    throw new ChannelUnavailableError(`${entry.name} is configured, but this build has no src/platforms/${entry.name}/ channel yet.`);
  }
  const module = await entry.load();
  return module.startChannel(services, log);
}

export class ChannelUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChannelUnavailableError';
  }
}
