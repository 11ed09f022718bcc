/**
 * The Discord channel as a module: its variables, when it is on, and `start()`. discord.js is
 * loaded inside `start()`, so importing this module costs nothing when Discord is not used.
 */
import type { ChannelModule } from '../channel';
import { configureDiscord, describeDiscord, DISCORD_VARIABLE_SPECS, type DiscordConfig } from './config';

export type { DiscordConfig } from './config';

export const discordChannel: ChannelModule<DiscordConfig> = {
  name: 'discord',
  variables: DISCORD_VARIABLE_SPECS,
  configure: configureDiscord,
  describe: describeDiscord,
  async start({ services, config, logger }) {
    const { startDiscordChannel } = await import('./start');
    const running = await startDiscordChannel(services, config, logger);
    return { stop: () => running.stop() };
  },
};
