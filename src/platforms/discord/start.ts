/** Connects the Discord channel with the real command set and the command runner. */
import type { Services } from '../../core/services';
import { maskSecrets, silentLogger, type Logger } from '../../log';
import { startDiscordClient, type RunningDiscordChannel } from './channel';
import type { DiscordConfig } from './config';

/** Discord could not be reached or refused the bot: the CLI prints the message as one line (exit 1). */
export class ChannelUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChannelUnavailableError';
  }
}

/** Errors of the network, not of Discord: the host is down, refused, unknown or too slow. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET']);

export async function startDiscordChannel(services: Services, config: DiscordConfig, logger: Logger = silentLogger): Promise<RunningDiscordChannel> {
  const [{ allCommands }, { invokeCommand }] = await Promise.all([import('../../../commands/index'), import('../../../commands/invoke')]);
  try {
    return await startDiscordClient({ services, config, commands: allCommands, invoke: invokeCommand, logger });
  } catch (error) {
    throw connectionProblem(error, config) ?? error;
  }
}

function connectionProblem(error: unknown, config: DiscordConfig): ChannelUnavailableError | undefined {
  // fetch wraps the socket's error in `cause`; discord.js may pass either on.
  for (let e = error as (Error & { code?: string; cause?: unknown }) | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.code && NETWORK_CODES.has(e.code)) {
      const where = maskSecrets(config.apiBase ?? 'https://discord.com/api');
      return new ChannelUnavailableError(`Discord is unreachable at ${where} (${e.code}: ${e.message}). Check the network or proxy, and DISCORD_API_BASE if it is set.`);
    }
  }
  const message = (error as Error | undefined)?.message ?? '';
  if (message.startsWith('Discord refused')) return new ChannelUnavailableError(message);
  return undefined;
}
