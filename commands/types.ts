/**
 * How a chat command is declared. One file per command in `commands/` exports a
 * `CommandDefinition`; Discord (slash options), Slack (slash text) and the terminal each turn
 * the same declaration into their own syntax, and validate input with the same rules.
 */
import type { View } from '../src/core/view';
import type { Services } from '../src/core/services';

/**
 * 'role' and 'channel' are a platform role or channel, passed to the core as the platform's id
 * (Discord's role and channel pickers; typed as an id or mention in text channels).
 */
export type OptionType = 'string' | 'integer' | 'number' | 'boolean' | 'role' | 'channel';

export interface OptionSpec {
  name: string;
  description: string;
  type: OptionType;
  required?: boolean;
  /** Allowed values, shown as choices on platforms that support them. */
  choices?: Array<string | number>;
  min?: number;
  max?: number;
  /** For strings: the maximum length a platform form should allow. */
  maxLength?: number;
  /**
   * In text-based channels (terminal, Slack slash text), the positional order of this option;
   * the option with the highest `position` also takes the rest of the line.
   */
  position?: number;
}

/** Who is acting, and where. Platform ids are opaque strings. */
export interface Actor {
  platform: 'terminal' | 'discord' | 'slack';
  /** Guild id, Slack team id, or 'local'. */
  workspaceId: string;
  channelId: string;
  userId: string;
  displayName: string;
  /** Set by the platform from its own permission model (Manage Server, Slack admin, --admin). */
  isAdmin: boolean;
  /** Platform role ids, for the reviewer-role check. */
  roles?: string[];
}

export interface CommandContext {
  actor: Actor;
  services: Services;
  /** Where the platform will show the reply, so an analysis can be posted there later. */
  replyRef?: { interactionToken?: string; messageId?: string; expiresAt?: Date };
}

export interface CommandResult {
  view: View;
  /** Show only to the actor (Discord ephemeral, Slack response_type ephemeral). */
  ephemeral?: boolean;
  /**
   * For long work (an analysis): resolves with the final view. Channels edit the pending
   * reply with it, or post a new message when the interaction expired.
   */
  followUp?: Promise<View>;
}

export type ParsedOptions = Record<string, string | number | boolean | undefined>;

export interface CommandDefinition<O extends ParsedOptions = ParsedOptions> {
  name: string;
  description: string;
  options: OptionSpec[];
  /** Needs admin rights (Manage Server on Discord, workspace admin on Slack). */
  adminOnly?: boolean;
  /** Counts against the per-user rate limit (expensive commands such as explain). */
  rateLimited?: boolean;
  /** Reply privately by default. */
  ephemeral?: boolean;
  /**
   * Needs the workspace's reviewer role when one is set (`settings reviewer_role`); admins
   * always pass. Checked by invokeCommand against `Actor.roles`.
   */
  reviewerRole?: boolean;
  run(ctx: CommandContext, options: O): Promise<CommandResult>;
}
