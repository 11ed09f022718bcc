/**
 * /settings (admins): show or change this workspace's settings, and this channel's own decoy
 * rate (channel_decoy_rate), which /review in this channel uses instead of the workspace's.
 */
import { coreOf } from '../src/core/context';
import { parseChannelDecoyRate, SETTING_DEFINITIONS, type SettingDefinition, type SettingKey } from '../src/core/settings';
import type { CommandDefinition, OptionSpec } from './types';

type SettingsOptions = Partial<Record<SettingKey, number | string>> & { channel_decoy_rate?: string };

export const settings: CommandDefinition<SettingsOptions> = {
  name: 'settings',
  description: "Show or change this workspace's settings (admins).",
  adminOnly: true,
  ephemeral: true,
  options: [
    ...(Object.values(SETTING_DEFINITIONS) as SettingDefinition[]).map(
      (def): OptionSpec => ({
        name: def.key,
        description: def.description,
        type: def.type,
        ...(def.min !== undefined ? { min: def.min } : {}),
        ...(def.max !== undefined ? { max: def.max } : {}),
        ...(def.choices ? { choices: def.choices } : {}),
        ...(def.type === 'string' || def.type === 'role' || def.type === 'channel' ? { maxLength: 100 } : {}),
      }),
    ),
    {
      name: 'channel_decoy_rate',
      description: "This channel's own decoy rate, 0 to 1 (\"none\" follows the workspace's)",
      type: 'string',
      maxLength: 20,
    },
  ],
  async run(ctx, options) {
    const core = coreOf(ctx.services);
    const who = await core.identity.resolve(ctx.actor);
    const { channel_decoy_rate: channelRate, ...workspaceChanges } = options;
    const db = core.database.db;
    // Checked before anything is stored, so a bad value changes nothing.
    const channelValue = channelRate === undefined ? undefined : parseChannelDecoyRate(channelRate);
    const changed: string[] = await core.settingsStore.update(db, who.workspaceId, who.reviewerId, workspaceChanges);
    if (channelValue !== undefined && (await core.settingsStore.setChannelDecoyRate(db, who.channelId, channelValue))) changed.push('channel_decoy_rate');
    const current = await core.settingsStore.get(db, who.workspaceId);
    const channel_decoy_rate = await core.settingsStore.channelDecoyRate(db, who.channelId);
    return { view: { kind: 'settings', settings: { ...current, channel_decoy_rate }, changed }, ephemeral: true };
  },
};
