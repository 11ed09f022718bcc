/** /stats: analyses, votes, reviewers and the confabulation rate in this workspace. */
import { z } from 'zod';
import { workspaceStats } from '../src/core/stats';
import { defineCommand } from './define';

export const stats = defineCommand({
  name: 'stats',
  description: "This workspace's analyses, votes, reviewers and confabulation rate.",
  options: z.object({}),
  async run({ actor, services }) {
    const who = await services.identity.resolve(actor);
    return { view: await workspaceStats(services.database.db, who.workspaceId, 'workspace') };
  },
});
