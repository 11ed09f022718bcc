import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config';
import { discordChannel } from '../../../src/platforms/discord';

function configError(env: Record<string, string>): string {
  try {
    discordChannel.configure(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error(`the Discord channel accepted ${JSON.stringify(env)}`);
}

const CREDENTIALS = { DISCORD_TOKEN: 'token', DISCORD_APPLICATION_ID: '123' };

/** For each Discord variable with rules, values that break them. */
const BAD_VALUES: Record<string, string[]> = {
  DISCORD_APPLICATION_ID: ['my-app', '12a'],
  DISCORD_GUILD_ID: ['guild', '-7'],
  DISCORD_API_BASE: ['discord.com/api', 'ftp://discord.com'],
  DISCORD_REGISTER_ON_START: ['maybe', '2'],
};

describe('Discord channel configuration', () => {
  it('is off without credentials, and empty strings count as unset', () => {
    expect(discordChannel.configure({})).toBeUndefined();
    expect(discordChannel.configure({ DISCORD_TOKEN: '', DISCORD_APPLICATION_ID: '' })).toBeUndefined();
  });

  it('reads the credentials and options, with documented defaults', () => {
    expect(discordChannel.configure({ ...CREDENTIALS, DISCORD_REGISTER_ON_START: 'true' })).toEqual({
      token: 'token',
      applicationId: '123',
      guildId: undefined,
      apiBase: undefined,
      registerOnStart: true,
    });
    const local = discordChannel.configure({ ...CREDENTIALS, DISCORD_GUILD_ID: '7', DISCORD_API_BASE: 'http://127.0.0.1:9/api' });
    expect(local).toMatchObject({ guildId: '7', apiBase: 'http://127.0.0.1:9/api', registerOnStart: false });
  });

  it('requires Discord credentials together', () => {
    expect(configError({ DISCORD_TOKEN: 'token' })).toMatch(/DISCORD_TOKEN and DISCORD_APPLICATION_ID/);
    expect(configError({ DISCORD_APPLICATION_ID: '1' })).toMatch(/DISCORD_TOKEN and DISCORD_APPLICATION_ID/);
  });

  for (const [name, values] of Object.entries(BAD_VALUES)) {
    for (const value of values) {
      it(`names ${name} and what is allowed when it is ${JSON.stringify(value)}`, () => {
        const message = configError({ ...CREDENTIALS, [name]: value });
        expect(message).toContain(name);
        expect(message).toMatch(/expected .+\./);
        expect(message).toContain(JSON.stringify(value));
      });
    }
  }

  it('lists every bad variable at once and never prints the token', () => {
    const message = configError({ DISCORD_TOKEN: 'hunter2', DISCORD_APPLICATION_ID: 'app', DISCORD_GUILD_ID: 'guild' });
    expect(message.split('\n')).toHaveLength(2);
    expect(message).not.toContain('hunter2');
  });

  it('declares each variable once, with the token secret', () => {
    const names = discordChannel.variables.map((v) => v.name);
    expect(new Set(names).size).toBe(names.length);
    expect(discordChannel.variables.filter((v) => v.secret).map((v) => v.name)).toEqual(['DISCORD_TOKEN']);
    for (const v of discordChannel.variables) expect(v.description.length, v.name).toBeGreaterThan(10);
  });

  it('describes how it would connect, without secrets', () => {
    const config = discordChannel.configure({ DISCORD_TOKEN: 'discord-secret-token', DISCORD_APPLICATION_ID: '42', DISCORD_GUILD_ID: '7' })!;
    expect(discordChannel.describe(config)).toBe('Discord application 42, guild 7');
  });
});
