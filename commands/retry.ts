/** /retry: queue a failed analysis again. */
import { z } from 'zod';
import { retryAnalysis } from '../src/core/analyses';
import { loadAnalysisView } from '../src/core/views';
import { defineCommand } from './define';

export const retry = defineCommand({
  name: 'retry',
  description: 'Run a failed analysis again.',
  rateLimited: true,
  options: z.object({
    analysis: z.int().min(1).meta({ description: 'Analysis id, shown with the failure', position: 1 }),
  }),
  async run({ actor, services }, options) {
    const who = await services.identity.resolve(actor);
    services.hub.forget(options.analysis);
    await retryAnalysis(services.database.db, options.analysis, who.workspaceId);
    const view = await loadAnalysisView(services.database.db, options.analysis, who.reviewerId);
    if (services.backend) await services.dispatcher.watch(options.analysis);
    const followUp = services.backend ? services.hub.waitForAnalysis(options.analysis) : undefined;
    services.dispatcher.notify();
    return { view, followUp };
  },
});
