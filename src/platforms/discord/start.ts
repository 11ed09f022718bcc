/** Connects the Discord channel with the real command set and the command runner. */
import type { Services } from '../../core/services';
import { silentLogger, type Logger } from '../../log';
import { startDiscordClient, type RunningDiscordChannel } from './channel';
import type { DiscordConfig } from './config';

export async function startDiscordChannel(services: Services, config: DiscordConfig, logger: Logger = silentLogger): Promise<RunningDiscordChannel> {
  const [{ allCommands }, { invokeCommand }] = await Promise.all([import('../../../commands/index'), import('../../../commands/invoke')]);
  return startDiscordClient({ services, config, commands: allCommands, invoke: invokeCommand, logger });
}
