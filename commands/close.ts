/** /close (admins): close an item before it reaches its votes. */
import { coreOf } from '../src/core/context';
import { closeItem } from '../src/core/items';
import type { CommandDefinition } from './types';

export const close: CommandDefinition<{ explanation: number }> = {
  name: 'close',
  description: 'Close an explanation to further votes (admins).',
  adminOnly: true,
  options: [{ name: 'explanation', description: 'Explanation id, shown as #<id>', type: 'integer', required: true, min: 1, position: 1 }],
  async run(ctx, options) {
    const core = coreOf(ctx.services);
    const who = await core.identity.resolve(ctx.actor);
    const item = await closeItem(core.database.db, who, options.explanation);
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
};
