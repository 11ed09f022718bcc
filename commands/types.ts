/**
 * The command contract. One file per command in `commands/` declares its options once, as a
 * zod object (see `defineCommand`); Discord (slash options), Slack (slash text) and the
 * terminal read the derived `OptionSpec` list and turn it into their own syntax.
 */
import type { z } from 'zod';
import type { Actor } from '../src/core/actor';
import type { Services } from '../src/core/services';
import type { View } from '../src/core/view';

/**
 * 'role' and 'channel' are a platform role or channel, passed to the core as the platform's id
 * (Discord's role and channel pickers; typed as an id or mention in text channels).
 */
export type OptionType = 'string' | 'integer' | 'number' | 'boolean' | 'role' | 'channel';

/** One option as channels see it, derived from the command's zod schema. */
export interface OptionSpec {
  name: string;
  description: string;
  type: OptionType;
  required?: boolean;
  /** Allowed values, shown as choices on platforms that support them. */
  choices?: Array<string | number>;
  min?: number;
  max?: number;
  /** For strings: the maximum length in characters (code points). */
  maxLength?: number;
  /**
   * In text-based channels (terminal, Slack slash text), the positional order of this option;
   * the option with the highest `position` also takes the rest of the line.
   */
  position?: number;
}

declare module 'zod' {
  interface GlobalMeta {
    /** A string option that names a platform role or channel. */
    option?: 'role' | 'channel';
    /** See OptionSpec.position. */
    position?: number;
    /**
     * See OptionSpec.maxLength. Declared here rather than with `.max()`, which counts UTF-16
     * units: an emoji is one character to a user, two to `.max()`.
     */
    maxLength?: number;
  }
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

/** Option values after the runner checked them against the OptionSpecs. */
export type ParsedOptions = Record<string, string | number | boolean | undefined>;

interface CommandRules {
  name: string;
  description: string;
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
  /** Lines the command's detailed help adds under its options (how to read what it shows). */
  notes?: string[];
  /**
   * Option bounds that follow the running model, for help (the declared bounds are only a
   * sanity range): e.g. positions within the model's context.
   */
  liveLimits?(services: Services): Promise<Record<string, { min: number; max: number }>>;
}

/** What a command file writes: its options as one zod object, and a handler typed from it. */
export interface CommandDeclaration<S extends z.ZodObject> extends CommandRules {
  options: S;
  run(ctx: CommandContext, options: z.output<S>): Promise<CommandResult>;
}

/** A declared command as channels and the runner see it (`defineCommand` builds it). */
export interface CommandDefinition extends CommandRules {
  options: OptionSpec[];
  run(ctx: CommandContext, options: ParsedOptions): Promise<CommandResult>;
}
