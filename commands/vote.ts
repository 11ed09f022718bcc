/** /vote: what the vote buttons call. One vote per reviewer and explanation; changeable while open. */
import { z } from 'zod';
import { DomainError } from '../src/core/errors';
import { VOTE_LABELS } from '../src/core/view';
import { castVote } from '../src/core/votes';
import { defineCommand } from './define';

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

export const vote = defineCommand({
  name: 'vote',
  description: 'Vote on an explanation: faithful, confabulated or unsure.',
  ephemeral: true,
  reviewerRole: true,
  options: z.object({
    explanation: z.int().min(1).meta({ description: 'Explanation id, shown as #<id>', position: 1 }),
    label: z.enum(VOTE_LABELS).meta({ description: 'Your judgement', position: 2 }),
    note: z.string().meta({ description: 'Why (optional)', maxLength: 1000, position: 3 }).optional(),
    claims: z.string().meta({ description: 'Numbers of the claims (sentences) that are wrong, e.g. "1,3"', maxLength: 200 }).optional(),
  }),
  async run({ actor, services }, options) {
    const who = await services.identity.resolve(actor);
    const view = await castVote(services.database.db, services.settingsStore, who, {
      explanationId: options.explanation,
      label: options.label,
      note: options.note,
      markedClaims: options.claims === undefined ? undefined : parseClaimNumbers(options.claims),
    });
    return { view, ephemeral: true };
  },
});
