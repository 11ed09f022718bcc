/**
 * /settings (admins): show or change this workspace's settings, and this channel's own decoy
 * rate (channel_decoy_rate), which /review in this channel uses instead of the workspace's.
 */
import { z } from 'zod';
import { checkPromptCharsSetting } from '../src/core/prompt-limit';
import { parseChannelDecoyRate, SETTING_DEFINITIONS as S, type SettingKey } from '../src/core/settings';
import { defineCommand } from './define';

// Role, channel and text values are ids or short words; 100 characters is ample.
const ID_LENGTH = 100;

/** One option per workspace setting; `satisfies` fails the build when a setting has none. */
const workspaceSettings = {
  votes_to_close: z.int().min(S.votes_to_close.min).max(S.votes_to_close.max).meta({ description: S.votes_to_close.description }).optional(),
  max_prompt_chars: z.int().min(S.max_prompt_chars.min).max(S.max_prompt_chars.max).meta({ description: S.max_prompt_chars.description }).optional(),
  decoy_rate: z.number().min(S.decoy_rate.min).max(S.decoy_rate.max).meta({ description: S.decoy_rate.description }).optional(),
  reviewer_role: z.string().meta({ description: S.reviewer_role.description, option: 'role', maxLength: ID_LENGTH }).optional(),
  digest_channel: z.string().meta({ description: S.digest_channel.description, option: 'channel', maxLength: ID_LENGTH }).optional(),
  digest_schedule: z.string().meta({ description: S.digest_schedule.description, maxLength: ID_LENGTH }).optional(),
  digest_time_zone: z.string().meta({ description: S.digest_time_zone.description, maxLength: ID_LENGTH }).optional(),
} satisfies Record<SettingKey, z.ZodType>;

export const settings = defineCommand({
  name: 'settings',
  description: "Show or change this workspace's settings (admins).",
  adminOnly: true,
  ephemeral: true,
  options: z.object({
    ...workspaceSettings,
    channel_decoy_rate: z
      .string()
      .meta({ description: "This channel's own decoy rate, 0 to 1 (\"none\" follows the workspace's)", maxLength: 20 })
      .optional(),
  }),
  async run({ actor, services }, options) {
    const who = await services.identity.resolve(actor);
    const { channel_decoy_rate: channelRate, ...workspaceChanges } = options;
    const db = services.database.db;
    const store = services.settingsStore;
    // Checked before anything is stored, so a bad value changes nothing.
    const channelValue = channelRate === undefined ? undefined : parseChannelDecoyRate(channelRate);
    if (workspaceChanges.max_prompt_chars !== undefined) await checkPromptCharsSetting(services.backend, workspaceChanges.max_prompt_chars);
    const changed: string[] = await store.update(db, who.workspaceId, who.reviewerId, workspaceChanges);
    if (channelValue !== undefined && (await store.setChannelDecoyRate(db, who.channelId, channelValue))) changed.push('channel_decoy_rate');
    const current = await store.get(db, who.workspaceId);
    const channel_decoy_rate = await store.channelDecoyRate(db, who.channelId);
    return { view: { kind: 'settings', settings: { ...current, channel_decoy_rate }, changed }, ephemeral: true };
  },
});
