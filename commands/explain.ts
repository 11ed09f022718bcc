/** /explain: analyse a prompt; SAE features and NLA explanations of the chosen token. */
import type { AnalysisSelection } from '../db/schema';
import { checkPrompt, checkSelection, createAnalysis } from '../src/core/analyses';
import { coreOf } from '../src/core/context';
import { DomainError } from '../src/core/errors';
import { loadAnalysisView } from '../src/core/views';
import type { CommandDefinition } from './types';

/** SAE features kept per position. */
const TOP_K = 8;

export const explain: CommandDefinition<{ prompt: string; token?: string; position?: number; samples?: number }> = {
  name: 'explain',
  description: 'Analyse a prompt: SAE features and NLA explanations of one token, to vote on.',
  rateLimited: true,
  options: [
    { name: 'prompt', description: 'The text to analyse', type: 'string', required: true, position: 1 },
    { name: 'token', description: 'Analyse the last token of this piece of the prompt (default: the last token)', type: 'string', maxLength: 200 },
    { name: 'position', description: 'Token index to analyse; negative counts from the end (-1 = last)', type: 'integer', min: -4096, max: 4095 },
    { name: 'samples', description: 'NLA explanations to generate (1-8, default 1)', type: 'integer', min: 1, max: 8 },
  ],
  async run(ctx, options) {
    const core = coreOf(ctx.services);
    const who = await core.identity.resolve(ctx.actor);
    const { max_prompt_chars } = await core.settingsStore.get(core.database.db, who.workspaceId);
    checkPrompt(options.prompt, max_prompt_chars);
    if (options.token !== undefined && options.position !== undefined) {
      throw new DomainError('conflicting_options', 'Give either token or position, not both.');
    }
    const selection: AnalysisSelection =
      options.token !== undefined ? { token: options.token } : options.position !== undefined ? { positions: [options.position] } : {};
    checkSelection(options.prompt, selection);

    const analysisId = await createAnalysis(
      core.database.db,
      who,
      { prompt: options.prompt, selection, nlaSamples: options.samples ?? 1, topK: TOP_K },
      ctx.replyRef?.messageId ?? null,
      ctx.replyRef?.expiresAt ?? null,
    );
    // The pending view is read, and the follow-up registered, before the dispatcher is woken:
    // the reply shows 'queued' and a fast result is not missed.
    const view = await loadAnalysisView(core.database.db, analysisId, who.reviewerId);
    const followUp = core.backend ? core.hub.waitForAnalysis(analysisId) : undefined;
    core.dispatcher.notify();
    return { view, followUp };
  },
};
