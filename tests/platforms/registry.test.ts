import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config';
import { CHAT_CHANNELS, enabledChatChannels, type ChannelModule } from '../../src/platforms';
import { terminalChannel } from '../../src/platforms/terminal';

describe('channel registry', () => {
  it('turns channels on from their credentials only', () => {
    expect(enabledChatChannels({})).toEqual([]);
    const discord = enabledChatChannels({ DISCORD_TOKEN: 't', DISCORD_APPLICATION_ID: '42', DISCORD_GUILD_ID: '7' });
    expect(discord.map((c) => c.module.name)).toEqual(['discord']);
    expect(discord[0].config).toMatchObject({ token: 't', applicationId: '42', guildId: '7' });
  });

  it('describes how each would connect, without secrets', () => {
    const lines = enabledChatChannels({ DISCORD_TOKEN: 'discord-secret-token', DISCORD_APPLICATION_ID: '42', DISCORD_GUILD_ID: '7' }).map((c) =>
      c.module.describe(c.config),
    );
    expect(lines).toEqual(['Discord application 42, guild 7']);
    expect(lines.join('\n')).not.toMatch(/secret/);
  });

  it('stops on a half-configured channel, naming its variables', () => {
    expect(() => enabledChatChannels({ DISCORD_TOKEN: 't' })).toThrow(ConfigError);
    expect(() => enabledChatChannels({ DISCORD_TOKEN: 't' })).toThrow(/DISCORD_TOKEN and DISCORD_APPLICATION_ID/);
  });

  it('asks every listed module, in order, and keeps the configuration each returned', () => {
    const seen: string[] = [];
    const module = (name: string, on: boolean): ChannelModule<{ name: string }> => ({
      name,
      variables: [],
      configure: () => (seen.push(name), on ? { name } : undefined),
      describe: (config) => config.name,
      start: () => Promise.reject(new Error('not started in this test')),
    });
    const enabled = enabledChatChannels({}, [module('a', true), module('b', false), module('c', true)]);
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(enabled.map((c) => c.config)).toEqual([{ name: 'a' }, { name: 'c' }]);
  });

  it('declares no variable twice across the core and the channels', async () => {
    const { CORE_VARIABLES } = await import('../../src/config');
    const names = [...CORE_VARIABLES, ...CHAT_CHANNELS.flatMap((c) => c.variables)].map((v) => v.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('leaves the terminal out: no variable turns it on, and it says who is reviewing', () => {
    expect(CHAT_CHANNELS).not.toContain(terminalChannel);
    expect(terminalChannel.variables).toEqual([]);
    expect(terminalChannel.configure({ DISCORD_TOKEN: 't', DISCORD_APPLICATION_ID: '1', CONFAB_LOG_LEVEL: 'debug' })).toBeUndefined();
    const config = { reviewer: 'alice', isAdmin: true } as Parameters<typeof terminalChannel.describe>[0];
    expect(terminalChannel.describe(config)).toBe('terminal, reviewing as alice (admin)');
  });
});
