/**
 * What a channel is. Each folder under src/platforms/ exports one `ChannelModule`: its name, its
 * environment variables, when the environment enables it, a one-line description, and `start()`.
 * A module value must be cheap to import: its platform SDK is loaded inside `start()`.
 */
import type { CommandContext, CommandResult, ParsedOptions } from '../../commands/types';
import type { Actor } from '../core/actor';
import type { Services } from '../core/services';
import type { Logger } from '../log';
import type { VariableSpec } from '../variables';

export type { VariableSpec };

export interface RunningChannel {
  /**
   * Resolves when the channel ends by itself, e.g. the terminal at end of input or on /quit.
   * Chat channels run until stopped and leave it undefined.
   */
  readonly finished?: Promise<void>;
  /** Disconnects and waits for in-flight replies; called once, before the services close. */
  stop(): Promise<void>;
}

export interface ChannelStartContext<C> {
  services: Services;
  config: C;
  logger: Logger;
}

export interface ChannelModule<C = unknown> {
  name: string;
  /** Its environment variables, declared once; `confab doctor` and the README list them. */
  variables: readonly VariableSpec[];
  /** Undefined: not enabled. Throws a ConfigError naming the variables when half-configured. */
  configure(env: Record<string, string | undefined>): C | undefined;
  /** One line for `confab doctor`: how it would connect. Never a secret. */
  describe(config: C): string;
  start(context: ChannelStartContext<C>): Promise<RunningChannel>;
}

/** How a channel runs a command: `invokeCommand`, or a scripted stand-in in a unit test. */
export type InvokeCommand = (
  services: Services,
  actor: Actor,
  commandName: string,
  rawOptions: ParsedOptions,
  replyRef?: CommandContext['replyRef'],
) => Promise<CommandResult>;
