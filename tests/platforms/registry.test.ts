import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { CHAT_CHANNELS, ChannelUnavailableError, enabledChatChannels, startChatChannel } from '../../src/platforms';
import type { Services } from '../../src/core/services';

describe('channel registry', () => {
  it('turns channels on from their credentials only', () => {
    expect(enabledChatChannels(loadConfig({}))).toEqual([]);
    const discord = loadConfig({ DISCORD_TOKEN: 't', DISCORD_APPLICATION_ID: '42', DISCORD_GUILD_ID: '7' });
    expect(enabledChatChannels(discord).map((c) => c.name)).toEqual(['discord']);
    const both = loadConfig({ DISCORD_TOKEN: 't', DISCORD_APPLICATION_ID: '42', SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1' });
    expect(enabledChatChannels(both).map((c) => c.name)).toEqual(['discord', 'slack']);
  });

  it('describes how each would connect, without secrets', () => {
    const config = loadConfig({
      DISCORD_TOKEN: 'discord-secret-token',
      DISCORD_APPLICATION_ID: '42',
      DISCORD_GUILD_ID: '7',
      SLACK_BOT_TOKEN: 'xoxb-slack-secret',
      SLACK_SIGNING_SECRET: 'signing-secret',
    });
    const lines = CHAT_CHANNELS.map((c) => c.describe(config));
    expect(lines).toEqual(['Discord application 42, guild 7', 'Slack, HTTP mode on port 3000 (POST /slack/events)']);
    expect(lines.join('\n')).not.toMatch(/secret/);
  });

  it('refuses clearly to start a configured channel this build does not have', async () => {
    const entry = { name: 'matrix', enabled: () => true, describe: () => 'Matrix' };
    await expect(startChatChannel(entry, {} as Services, console)).rejects.toThrow(ChannelUnavailableError);
    await expect(startChatChannel(entry, {} as Services, console)).rejects.toThrow('matrix is configured, but this build has no src/platforms/matrix/ channel yet.');
  });
});
