/** /feature: an SAE feature's label, how often it fired in this team's prompts, and examples. */
import { z } from 'zod';
import { featureCard } from '../src/core/features';
import { defineCommand } from './define';

export const feature = defineCommand({
  name: 'feature',
  description: 'Show an SAE feature: its label, how often it fired, and example tokens.',
  options: z.object({
    index: z.int().min(0).max(10_000_000).meta({ description: 'Feature index', position: 1 }),
  }),
  async run({ actor, services }, options) {
    const who = await services.identity.resolve(actor);
    return { view: await featureCard(services.database.db, who.workspaceId, options.index) };
  },
});
