/** /settings (admins): show or change this workspace's settings. */
import { coreOf } from '../src/core/context';
import { SETTING_DEFINITIONS, type SettingDefinition, type SettingKey } from '../src/core/settings';
import type { CommandDefinition, OptionSpec } from './types';

export const settings: CommandDefinition<Partial<Record<SettingKey, number | string>>> = {
  name: 'settings',
  description: "Show or change this workspace's settings (admins).",
  adminOnly: true,
  ephemeral: true,
  options: (Object.values(SETTING_DEFINITIONS) as SettingDefinition[]).map(
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
  async run(ctx, options) {
    const core = coreOf(ctx.services);
    const who = await core.identity.resolve(ctx.actor);
    const changed = await core.settingsStore.update(core.database.db, who.workspaceId, who.reviewerId, options);
    const current = await core.settingsStore.get(core.database.db, who.workspaceId);
    return { view: { kind: 'settings', settings: { ...current }, changed }, ephemeral: true };
  },
};
