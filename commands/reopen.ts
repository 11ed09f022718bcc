/** /reopen (admins): open a closed item for more votes. */
import { coreOf } from '../src/core/context';
import { reopenItem } from '../src/core/items';
import type { CommandDefinition } from './types';

export const reopen: CommandDefinition<{ explanation: number }> = {
  name: 'reopen',
  description: 'Reopen a closed explanation for more votes (admins).',
  adminOnly: true,
  options: [{ name: 'explanation', description: 'Explanation id, shown as #<id>', type: 'integer', required: true, min: 1, position: 1 }],
  async run(ctx, options) {
    const core = coreOf(ctx.services);
    const who = await core.identity.resolve(ctx.actor);
    const item = await reopenItem(core.database.db, who, options.explanation);
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
};
