/**
 * The Discord channel's entry points, as the channel registry (src/platforms/index.ts) and the
 * CLI (`confab discord register`) call them.
 */
import type { Services } from '../../core/services';
import type { ChannelLog, RunningChannel } from '../index';
import { startDiscordClient, type RunningDiscordChannel } from './channel';
import type { DiscordConfig } from './commands';

export { registerDiscordCommands, slashCommandsJSON, type DiscordConfig, type RegisterResult } from './commands';

const consoleLog: ChannelLog = {
  debug: () => undefined,
  info: (m) => console.error(m),
  warn: (m) => console.error(m),
  error: (m) => console.error(m),
};

/** Connect to Discord with the real command set and core. */
export async function startDiscordChannel(services: Services, config: DiscordConfig, log: ChannelLog = consoleLog): Promise<RunningDiscordChannel> {
  const [{ allCommands }, { invokeCommand }] = await Promise.all([import('../../../commands/index'), import('../../../commands/invoke')]);
  return startDiscordClient({ services, config, commands: allCommands, invoke: invokeCommand, log });
}

/** The registry's entry point: `confab start` calls this when DISCORD_TOKEN is set. */
export async function startChannel(services: Services, log: ChannelLog): Promise<RunningChannel> {
  const config = services.config.discord;
  if (!config) throw new Error('DISCORD_TOKEN and DISCORD_APPLICATION_ID must be set to start the Discord channel.');
  const running = await startDiscordChannel(services, config, log);
  return { stop: () => running.stop() };
}
