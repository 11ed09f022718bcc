/**
 * `confab discord register`: publish the slash commands to Discord (guild-scoped, which is
 * instant, or global, which can take an hour to show everywhere). `confab start` does it too
 * when DISCORD_REGISTER_ON_START=1.
 */
import { ConfigError, loadDotEnv } from '../config';
import { discordChannel } from '../platforms/discord';
import type { CliCommand } from './spec';

export const discordRegisterCommand: CliCommand = {
  name: 'discord register',
  summary: 'Register the slash commands with Discord (DISCORD_TOKEN, DISCORD_APPLICATION_ID).',
  options: {
    guild: { type: 'string', valueName: 'ID', description: 'Register in this guild only (default DISCORD_GUILD_ID; global when neither is set).' },
  },
  async run({ values }, io) {
    loadDotEnv();
    const config = discordChannel.configure(io.env);
    if (!config) throw new ConfigError('DISCORD_TOKEN and DISCORD_APPLICATION_ID must be set to register commands.');
    const guildId = typeof values.guild === 'string' ? values.guild : undefined;
    if (guildId !== undefined && !/^\d+$/.test(guildId)) throw new ConfigError(`--guild must be a numeric Discord snowflake; got "${guildId}".`);
    const { registerDiscordCommands } = await import('../platforms/discord/commands');
    try {
      const result = await registerDiscordCommands(config, { guildId });
      const where = result.scope === 'guild' ? `guild ${result.guildId}` : 'all guilds (global commands can take up to an hour to appear)';
      io.stdout.write(`Registered ${result.names.length} commands in ${where}: ${result.names.map((n) => `/${n}`).join(', ')}.\n`);
      return 0;
    } catch (error) {
      // discord.js REST errors carry the HTTP status; a 401 means the token is wrong.
      const status = (error as { status?: number }).status;
      const why = status === 401 ? 'Discord refused DISCORD_TOKEN (401)' : `${(error as Error).message}${status ? ` (HTTP ${status})` : ''}`;
      io.stderr.write(`confab discord register: ${why}.\n`);
      return 1;
    }
  },
};
