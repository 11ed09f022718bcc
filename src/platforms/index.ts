/**
 * The channel registry: the chat channels this build has. Each is one folder under
 * src/platforms/ exporting a `ChannelModule` (see ./channel.ts); adding a channel is that
 * folder plus one line in `CHAT_CHANNELS`. The terminal channel is not listed: `confab start`
 * runs it when the environment enables no chat channel, or with `--local`.
 */
import type { ChannelModule } from './channel';
import { discordChannel } from './discord';
import { slackChannel } from './slack';

export type { ChannelModule, RunningChannel, VariableSpec } from './channel';

/** In the order `confab start` starts them and the README lists their variables. */
export const CHAT_CHANNELS: readonly ChannelModule<unknown>[] = [discordChannel, slackChannel as ChannelModule<unknown>];

/** A chat channel the environment turns on, with the configuration it read. */
export interface EnabledChannel {
  module: ChannelModule<unknown>;
  config: unknown;
}

/**
 * The chat channels an environment turns on, in registry order. Throws the ConfigError of a
 * half-configured channel, naming its variables.
 */
export function enabledChatChannels(env: Record<string, string | undefined>, channels: readonly ChannelModule<unknown>[] = CHAT_CHANNELS): EnabledChannel[] {
  const enabled: EnabledChannel[] = [];
  for (const channel of channels) {
    const config = channel.configure(env);
    if (config !== undefined) enabled.push({ module: channel, config });
  }
  return enabled;
}
