/** /review: the next open item this reviewer has not voted on. */
import { z } from 'zod';
import { nextReviewItem } from '../src/core/queue';
import { defineCommand } from './define';

export const review = defineCommand({
  name: 'review',
  description: 'Show the next explanation that needs your vote.',
  ephemeral: true,
  reviewerRole: true,
  options: z.object({}),
  async run({ actor, services }) {
    const who = await services.identity.resolve(actor);
    const db = services.database.db;
    const { votes_to_close } = await services.settingsStore.get(db, who.workspaceId);
    const decoyRate = await services.settingsStore.decoyRate(db, who.workspaceId, who.channelId);
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
});
