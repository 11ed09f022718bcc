/** /close (admins): close an item before it reaches its votes. */
import { z } from 'zod';
import { closeItem } from '../src/core/items';
import { defineCommand } from './define';

export const close = defineCommand({
  name: 'close',
  description: 'Close an explanation to further votes (admins).',
  adminOnly: true,
  options: z.object({
    explanation: z.int().min(1).meta({ description: 'Explanation id, shown as #<id>', position: 1 }),
  }),
  async run({ actor, services }, options) {
    const who = await services.identity.resolve(actor);
    const item = await closeItem(services.database.db, who, options.explanation);
    const t = item.tally;
    return {
      view: {
        kind: 'message',
        tone: 'success',
        lines: [`Explanation #${options.explanation} is closed; its votes stand as they are.`, `Tally: ${t.faithful} faithful, ${t.confabulated} confabulated, ${t.unsure} unsure.`],
        item,
      },
    };
  },
});
