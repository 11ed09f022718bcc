/** /explain: analyse a prompt; SAE features and NLA explanations of the chosen token. */
import { z } from 'zod';
import type { AnalysisSelection } from '../db/schema';
import { checkPrompt, checkSelection, createAnalysis } from '../src/core/analyses';
import { DomainError } from '../src/core/errors';
import { SCORE_LEGEND } from '../src/core/legend';
import type { Services } from '../src/core/services';
import type { AnalysisView, View } from '../src/core/view';
import { checkPromptFits, modelContext } from '../src/core/prompt-limit';
import { loadAnalysisView } from '../src/core/views';
import { defineCommand } from './define';

/** SAE features kept per position. */
const TOP_K = 8;

/** Reviewers who have seen the score legend under a result, per running Confab (its services). */
const legendShown = new WeakMap<Services, Set<number>>();

/** Adds the score legend under a reviewer's first result of this run. */
function withLegend(services: Services, reviewerId: number, view: View): View {
  if (view.kind !== 'analysis' || view.status !== 'done') return view;
  const seen = legendShown.get(services) ?? new Set<number>();
  legendShown.set(services, seen);
  if (seen.has(reviewerId)) return view;
  seen.add(reviewerId);
  return { ...view, legend: SCORE_LEGEND } satisfies AnalysisView;
}

export const explain = defineCommand({
  name: 'explain',
  description: 'Analyse a prompt: SAE features and NLA explanations of one token, to vote on.',
  rateLimited: true,
  notes: [SCORE_LEGEND],
  async liveLimits(services): Promise<Record<string, { min: number; max: number }>> {
    const context = await modelContext(services.backend);
    return context === null ? {} : { position: { min: -context, max: context - 1 } };
  },
  options: z.object({
    prompt: z.string().meta({ description: 'The text to analyse', position: 1 }),
    token: z.string().meta({ description: 'Analyse the last token of this piece of the prompt (default: the last token)', maxLength: 200 }).optional(),
    position: z.int().min(-4096).max(4095).meta({ description: 'Token index to analyse; negative counts from the end (-1 = last)' }).optional(),
    samples: z.int().min(1).max(8).meta({ description: 'NLA explanations to generate (1-8, default 1)' }).optional(),
  }),
  async run({ actor, services, replyRef }, options) {
    const who = await services.identity.resolve(actor);
    const db = services.database.db;
    const { max_prompt_chars } = await services.settingsStore.get(db, who.workspaceId);
    checkPrompt(options.prompt, max_prompt_chars);
    if (options.token !== undefined && options.position !== undefined) {
      throw new DomainError('conflicting_options', 'Give either token or position, not both.');
    }
    const selection: AnalysisSelection =
      options.token !== undefined ? { token: options.token } : options.position !== undefined ? { positions: [options.position] } : {};
    checkSelection(options.prompt, selection);
    // Counted by the worker before anything is stored, so a prompt the model cannot read is never queued.
    await checkPromptFits(services.backend, options.prompt, selection);

    const analysisId = await createAnalysis(
      db,
      who,
      { prompt: options.prompt, selection, nlaSamples: options.samples ?? 1, topK: TOP_K },
      replyRef?.messageId ?? null,
      replyRef?.expiresAt ?? null,
    );
    // The pending view is read, and the follow-up registered, before the dispatcher is woken:
    // the reply shows 'queued' and a fast result is not missed.
    const view = await loadAnalysisView(db, analysisId, who.reviewerId);
    if (services.backend) await services.dispatcher.watch(analysisId);
    const followUp = services.backend ? services.hub.waitForAnalysis(analysisId).then((done) => withLegend(services, who.reviewerId, done)) : undefined;
    services.dispatcher.notify();
    return { view, followUp };
  },
});
