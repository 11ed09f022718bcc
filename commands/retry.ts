/** /retry: queue a failed analysis again. */
import { retryAnalysis } from '../src/core/analyses';
import { coreOf } from '../src/core/context';
import { loadAnalysisView } from '../src/core/views';
import type { CommandDefinition } from './types';

export const retry: CommandDefinition<{ analysis: number }> = {
  name: 'retry',
  description: 'Run a failed analysis again.',
  rateLimited: true,
  options: [{ name: 'analysis', description: 'Analysis id, shown with the failure', type: 'integer', required: true, min: 1, position: 1 }],
  async run(ctx, options) {
    const core = coreOf(ctx.services);
    const who = await core.identity.resolve(ctx.actor);
    core.hub.forget(options.analysis);
    await retryAnalysis(core.database.db, options.analysis, who.workspaceId);
    const view = await loadAnalysisView(core.database.db, options.analysis, who.reviewerId);
    const followUp = core.backend ? core.hub.waitForAnalysis(options.analysis) : undefined;
    core.dispatcher.notify();
    return { view, followUp };
  },
};
