/**
 * The Discord channel's environment variables, declared once, and the configuration they give.
 * The channel is on when DISCORD_TOKEN and DISCORD_APPLICATION_ID are both set.
 */
import { z } from 'zod';
import { ConfigError, defineVariables, flag, httpUrl, readVariables, text, variableSpecs } from '../../variables';

const snowflake = z.string().regex(/^\d+$/, 'a numeric Discord snowflake');

export const DISCORD_VARIABLES = defineVariables({
  DISCORD_TOKEN: { description: 'Bot token; with DISCORD_APPLICATION_ID it turns the Discord channel on.', secret: true, schema: text() },
  DISCORD_APPLICATION_ID: { description: 'The application (client) id.', schema: snowflake },
  DISCORD_GUILD_ID: { description: 'Register commands in this guild only (they appear at once); without it they are global and can take up to an hour to appear.', schema: snowflake },
  DISCORD_API_BASE: { description: 'REST base URL, for a proxy or a test server.', default: 'https://discord.com/api', schema: httpUrl },
  DISCORD_REGISTER_ON_START: {
    description: 'Register slash commands at every start (1) or only with `confab discord register` (0).',
    default: '0',
    schema: flag,
  },
});

export interface DiscordConfig {
  token: string;
  applicationId: string;
  guildId?: string;
  /** Unset: discord.js's default, https://discord.com/api. */
  apiBase?: string;
  registerOnStart: boolean;
}

const DEFAULT_API_BASE = DISCORD_VARIABLES.DISCORD_API_BASE.default;

export function configureDiscord(env: Record<string, string | undefined>): DiscordConfig | undefined {
  const v = readVariables(DISCORD_VARIABLES, env);
  if ((v.DISCORD_TOKEN === undefined) !== (v.DISCORD_APPLICATION_ID === undefined)) {
    throw new ConfigError('DISCORD_TOKEN and DISCORD_APPLICATION_ID must be set together (or neither).');
  }
  if (v.DISCORD_TOKEN === undefined || v.DISCORD_APPLICATION_ID === undefined) return undefined;
  return {
    token: v.DISCORD_TOKEN,
    applicationId: v.DISCORD_APPLICATION_ID,
    guildId: v.DISCORD_GUILD_ID,
    apiBase: v.DISCORD_API_BASE === DEFAULT_API_BASE ? undefined : v.DISCORD_API_BASE,
    registerOnStart: v.DISCORD_REGISTER_ON_START,
  };
}

export function describeDiscord(config: DiscordConfig): string {
  return (
    `Discord application ${config.applicationId}` +
    (config.guildId ? `, guild ${config.guildId}` : ', all guilds') +
    (config.apiBase ? `, API ${config.apiBase}` : '')
  );
}

export const DISCORD_VARIABLE_SPECS = variableSpecs(DISCORD_VARIABLES);
