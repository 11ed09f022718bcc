/** /digest [week]: a private preview of this workspace's digest (by default this week so far). */
import { z } from 'zod';
import { digestLines, digestOnDemand, digestTitle } from '../src/core/digest';
import { defineCommand } from './define';

export const digest = defineCommand({
  name: 'digest',
  description: "Preview this workspace's digest: this week so far, or an ISO week such as 2026-W48.",
  ephemeral: true,
  options: z.object({
    week: z.string().optional().meta({ description: 'ISO week, e.g. 2026-W48 (default: this week so far)', maxLength: 10, position: 1 }),
  }),
  async run({ actor, services }, options) {
    const who = await services.identity.resolve(actor);
    const db = services.database.db;
    const { digest_time_zone } = await services.settingsStore.get(db, who.workspaceId);
    const week = options.week?.trim() || undefined;
    const content = await digestOnDemand(db, { workspaceId: who.workspaceId, timeZone: digest_time_zone, week, fallback: 'current' });
    return { view: { kind: 'message', title: digestTitle(content), lines: digestLines(content), tone: 'info' }, ephemeral: true };
  },
});
