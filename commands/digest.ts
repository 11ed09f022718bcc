/** /digest [week]: a private preview of this workspace's digest (by default this week so far). */
import { coreOf } from '../src/core/context';
import { digestLines, digestOnDemand, digestTitle } from '../src/core/digest';
import type { CommandDefinition } from './types';

export const digest: CommandDefinition<{ week?: string }> = {
  name: 'digest',
  description: "Preview this workspace's digest: this week so far, or an ISO week such as 2026-W48.",
  ephemeral: true,
  options: [{ name: 'week', description: 'ISO week, e.g. 2026-W48 (default: this week so far)', type: 'string', maxLength: 10, position: 1 }],
  async run(ctx, options) {
    const core = coreOf(ctx.services);
    const who = await core.identity.resolve(ctx.actor);
    const db = core.database.db;
    const { digest_time_zone } = await core.settingsStore.get(db, who.workspaceId);
    const week = options.week?.trim() || undefined;
    const content = await digestOnDemand(db, { workspaceId: who.workspaceId, timeZone: digest_time_zone, week, fallback: 'current' });
    return { view: { kind: 'message', title: digestTitle(content), lines: digestLines(content), tone: 'info' }, ephemeral: true };
  },
};
