/**
 * Pieces of the Discord channel's interaction handling that hold no state of their own:
 * acknowledgement ordering, discord.js reply options, and Discord's error codes.
 */
import { DiscordAPIError, type Interaction } from 'discord.js';
import type { DiscordMessage } from './message';

/** Discord API errors meaning the interaction webhook (token) is gone. */
const EXPIRED_TOKEN_CODES = new Set([10015, 50027, 10062]);

/**
 * Acknowledgements before work. Command work (database, rendering) runs on the same event loop
 * as the acknowledgements; in a burst of interactions, starting the first command's work delays
 * every later defer past Discord's 3-second window. So work waits until the acknowledgements in
 * flight are sent, and yields once so interactions already received get their turn; a cap keeps
 * a steady stream of clicks from starving it.
 */
export class AcknowledgementsFirst {
  private pending = 0;
  private waiting: Array<() => void> = [];

  async send<T>(acknowledge: () => Promise<T>): Promise<T> {
    this.pending += 1;
    try {
      return await acknowledge();
    } finally {
      this.pending -= 1;
      if (this.pending === 0) for (const resume of this.waiting.splice(0)) resume();
    }
  }

  async settled(maxWaitMs = 1_000): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.pending === 0) return;
    await new Promise<void>((resolve) => {
      this.waiting.push(resolve);
      setTimeout(resolve, maxWaitMs).unref();
    });
  }
}

/** discord.js message options from a rendered message. */
export function toReply(message: DiscordMessage) {
  return {
    content: message.content ?? '',
    embeds: message.embeds,
    components: message.components,
    allowedMentions: message.allowedMentions,
    files: message.files ?? [],
  };
}

export function readField<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

export function isApiError(error: unknown, code: number): boolean {
  return error instanceof DiscordAPIError && error.code === code;
}

export function isExpiredToken(error: unknown): boolean {
  return error instanceof DiscordAPIError && typeof error.code === 'number' && EXPIRED_TOKEN_CODES.has(error.code);
}

export function interactionLabel(interaction: Interaction): string {
  if (interaction.isChatInputCommand()) return `/${interaction.commandName}`;
  if (interaction.isButton() || interaction.isModalSubmit()) return 'that button';
  return 'that interaction';
}

export function describe(error: unknown): string {
  if (error instanceof DiscordAPIError) return `${error.message} (Discord code ${error.code}, ${error.method.toUpperCase()} ${error.url})`;
  return error instanceof Error ? error.message : String(error);
}
