/** /vote: what the vote buttons call. One vote per reviewer and explanation; changeable while open. */
import { coreOf } from '../src/core/context';
import { DomainError } from '../src/core/errors';
import { VOTE_LABELS, type VoteLabel } from '../src/core/view';
import { castVote } from '../src/core/votes';
import type { CommandDefinition } from './types';

/** "1, 3" or "1 3" → [1, 3]. */
function parseClaimNumbers(text: string): number[] {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  return parts.map((p) => {
    const n = Number(p.replace(/^#/, ''));
    if (!Number.isInteger(n) || n < 1) {
      throw new DomainError('invalid_option', `Claims must be claim numbers like "1,3"; "${p}" is not one.`);
    }
    return n;
  });
}

export const vote: CommandDefinition<{ explanation: number; label: string; note?: string; claims?: string }> = {
  name: 'vote',
  description: 'Vote on an explanation: faithful, confabulated or unsure.',
  ephemeral: true,
  reviewerRole: true,
  options: [
    { name: 'explanation', description: 'Explanation id, shown as #<id>', type: 'integer', required: true, min: 1, position: 1 },
    { name: 'label', description: 'Your judgement', type: 'string', required: true, choices: [...VOTE_LABELS], position: 2 },
    { name: 'note', description: 'Why (optional)', type: 'string', maxLength: 1000, position: 3 },
    { name: 'claims', description: 'Numbers of the claims (sentences) that are wrong, e.g. "1,3"', type: 'string', maxLength: 200 },
  ],
  async run(ctx, options) {
    const core = coreOf(ctx.services);
    const who = await core.identity.resolve(ctx.actor);
    const view = await castVote(core.database.db, core.settingsStore, who, {
      explanationId: options.explanation,
      label: options.label as VoteLabel,
      note: options.note,
      markedClaims: options.claims === undefined ? undefined : parseClaimNumbers(options.claims),
    });
    return { view, ephemeral: true };
  },
};
