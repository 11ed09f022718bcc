/**
 * The terminal channel as a module. No environment variable turns it on: `confab start` runs it
 * when no chat channel is enabled, or with `--local`, and builds its configuration from the
 * command line (reviewer, admin) and the process's streams.
 */
import type { ChannelModule } from '../channel';
import { startTerminalSession, type TerminalSessionOptions } from './session';

export type TerminalConfig = Omit<TerminalSessionOptions, 'services' | 'logger'>;

export const terminalChannel: ChannelModule<TerminalConfig> = {
  name: 'terminal',
  variables: [],
  configure: () => undefined,
  describe: (config) => `terminal, reviewing as ${config.reviewer}${config.isAdmin ? ' (admin)' : ''}`,
  // Not async inside: the session subscribes to finished analyses before this returns.
  start: ({ services, config, logger }) => Promise.resolve(startTerminalSession({ ...config, services, logger })),
};
