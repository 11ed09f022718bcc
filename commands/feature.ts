/** /feature: an SAE feature's label, how often it fired in this team's prompts, and examples. */
import { coreOf } from '../src/core/context';
import { featureCard } from '../src/core/features';
import type { CommandDefinition } from './types';

export const feature: CommandDefinition<{ index: number }> = {
  name: 'feature',
  description: 'Show an SAE feature: its label, how often it fired, and example tokens.',
  options: [{ name: 'index', description: 'Feature index', type: 'integer', required: true, min: 0, max: 10_000_000, position: 1 }],
  async run(ctx, options) {
    const core = coreOf(ctx.services);
    const who = await core.identity.resolve(ctx.actor);
    return { view: await featureCard(core.database.db, who.workspaceId, options.index) };
  },
};
