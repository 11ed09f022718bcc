/**
 * Slash-command JSON generated from the platform-neutral declarations in `commands/`, and the
 * bulk overwrite that registers it. Nothing here is written by hand per command: a new file in
 * `commands/` appears in Discord after `confab discord register`.
 */
import { REST, Routes, type RESTPutAPIApplicationCommandsJSONBody } from 'discord.js';
import type { CommandDefinition, OptionSpec, OptionType } from '../../../commands/types';
import type { DiscordConfig } from './config';

/** Discord names differ from the core's where Discord needs a prefix to avoid clashes. */
const DISCORD_NAMES: Record<string, string> = { settings: 'confab-settings' };

/** Manage Server: the permission `/confab-settings` needs by default (admins can change it per server). */
export const MANAGE_GUILD_PERMISSION = (1n << 5n).toString();

export function discordNameOf(coreName: string): string {
  return DISCORD_NAMES[coreName] ?? coreName;
}

export function coreNameOf(discordName: string): string {
  for (const [core, discord] of Object.entries(DISCORD_NAMES)) if (discord === discordName) return core;
  return discordName;
}

// Discord application command option types; a role or channel option arrives as its id.
const OPTION_TYPES: Record<OptionType, number> = { string: 3, integer: 4, boolean: 5, channel: 7, role: 8, number: 10 };

// Discord: names 1–32 lowercase characters, descriptions 1–100, at most 25 options and choices.
function description(text: string): string {
  const t = text.trim() || '—';
  return t.length <= 100 ? t : `${t.slice(0, 99)}…`;
}

function optionJSON(option: OptionSpec) {
  const json: Record<string, unknown> = {
    type: OPTION_TYPES[option.type],
    name: option.name.toLowerCase().slice(0, 32),
    description: description(option.description),
    required: option.required ?? false,
  };
  if (option.choices?.length) {
    json.choices = option.choices.slice(0, 25).map((value) => ({ name: String(value).slice(0, 100), value }));
  }
  if (option.type === 'string') {
    // Discord caps string options at 6000 characters.
    if (option.maxLength !== undefined) json.max_length = Math.min(6000, option.maxLength);
    if (option.min !== undefined) json.min_length = Math.min(6000, option.min);
  } else if (option.type === 'integer' || option.type === 'number') {
    if (option.min !== undefined) json.min_value = option.min;
    if (option.max !== undefined) json.max_value = option.max;
  }
  return json;
}

/** The body of the bulk overwrite: one chat-input command per definition. */
export function slashCommandsJSON(definitions: readonly CommandDefinition[]): RESTPutAPIApplicationCommandsJSONBody {
  return definitions.map((definition) => ({
    type: 1,
    name: discordNameOf(definition.name),
    description: description(definition.description),
    // Discord rejects a required option after an optional one.
    options: [...definition.options]
      .sort((a, b) => Number(b.required ?? false) - Number(a.required ?? false))
      .slice(0, 25)
      .map(optionJSON),
    default_member_permissions: definition.adminOnly ? MANAGE_GUILD_PERMISSION : null,
    // Guild channels only: reviews belong to a server's team.
    contexts: [0],
  })) as unknown as RESTPutAPIApplicationCommandsJSONBody;
}

export interface RegisterResult {
  scope: 'guild' | 'global';
  guildId?: string;
  names: string[];
}

/**
 * Bulk-overwrite the application's slash commands: guild-scoped when a guild id is given
 * (instant, for development) or global (can take up to an hour to appear everywhere).
 */
export async function registerDiscordCommands(
  config: DiscordConfig,
  options: { guildId?: string; commands?: readonly CommandDefinition[] } = {},
): Promise<RegisterResult> {
  const definitions = options.commands ?? (await import('../../../commands/index')).allCommands;
  const body = slashCommandsJSON(definitions);
  const rest = new REST(config.apiBase ? { api: config.apiBase } : {}).setToken(config.token);
  const guildId = options.guildId ?? config.guildId;
  const route = guildId ? Routes.applicationGuildCommands(config.applicationId, guildId) : Routes.applicationCommands(config.applicationId);
  const saved = (await rest.put(route, { body })) as Array<{ name: string }>;
  return { scope: guildId ? 'guild' : 'global', guildId, names: saved.map((c) => c.name) };
}
