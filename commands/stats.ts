/** /stats: analyses, votes, reviewers and the confabulation rate in this workspace. */
import { coreOf } from '../src/core/context';
import { workspaceStats } from '../src/core/stats';
import type { CommandDefinition } from './types';

export const stats: CommandDefinition<Record<string, never>> = {
  name: 'stats',
  description: "This workspace's analyses, votes, reviewers and confabulation rate.",
  options: [],
  async run(ctx) {
    const core = coreOf(ctx.services);
    const who = await core.identity.resolve(ctx.actor);
    return { view: await workspaceStats(core.database.db, who.workspaceId, 'workspace') };
  },
};
