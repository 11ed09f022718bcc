/** /reopen (admins): open a closed item for more votes. */
import { z } from 'zod';
import { reopenItem } from '../src/core/items';
import { defineCommand } from './define';

export const reopen = defineCommand({
  name: 'reopen',
  description: 'Reopen a closed explanation for more votes (admins).',
  adminOnly: true,
  options: z.object({
    explanation: z.int().min(1).meta({ description: 'Explanation id, shown as #<id>', position: 1 }),
  }),
  async run({ actor, services }, options) {
    const who = await services.identity.resolve(actor);
    const item = await reopenItem(services.database.db, who, options.explanation);
    const t = item.tally;
    return {
      view: {
        kind: 'message',
        tone: 'success',
        lines: [`Explanation #${options.explanation} is open again for votes.`, `Tally: ${t.faithful} faithful, ${t.confabulated} confabulated, ${t.unsure} unsure.`],
        item,
      },
    };
  },
});
