/** /review: the next open item this reviewer has not voted on. */
import { coreOf } from '../src/core/context';
import { nextReviewItem } from '../src/core/queue';
import type { CommandDefinition } from './types';

export const review: CommandDefinition<Record<string, never>> = {
  name: 'review',
  description: 'Show the next explanation that needs your vote.',
  ephemeral: true,
  reviewerRole: true,
  options: [],
  async run(ctx) {
    const core = coreOf(ctx.services);
    const who = await core.identity.resolve(ctx.actor);
    const db = core.database.db;
    const { votes_to_close } = await core.settingsStore.get(db, who.workspaceId);
    const decoyRate = await core.settingsStore.decoyRate(db, who.workspaceId, who.channelId);
    const item = await nextReviewItem(db, who, { votesToClose: votes_to_close, decoyRate });
    if (item) return { view: item, ephemeral: true };
    return {
      view: {
        kind: 'message',
        title: 'Nothing to review',
        lines: ['You have voted on every open explanation. Use /explain to analyse a new prompt.'],
        tone: 'info',
      },
      ephemeral: true,
    };
  },
};
