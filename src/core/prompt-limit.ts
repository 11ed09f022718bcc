/**
 * The model's limits, met before an analysis is queued rather than when it runs: the worker's
 * tokenizer counts the prompt (the one place that decides whether it fits, through the
 * backend's `countTokens`), positions are checked against that count, and the
 * `max_prompt_chars` setting cannot be raised above what the model reads.
 */
import type { AnalysisSelection } from '../../db/schema';
import type { AnalysisBackend } from './backend';
import { DomainError, formatCount } from './errors';

/** How long /explain waits for the count; past it the analysis queues and the worker checks it. */
const COUNT_TIMEOUT_MS = 5_000;

interface BackendFailure {
  status?: number;
  code?: string;
  detail?: string;
}

/**
 * Refuses a prompt the model cannot read, in tokens, with the limit; and positions beyond the
 * prompt, with its token count. Returns the count, or null when the backend cannot count or did
 * not answer (the worker then refuses a bad request when it runs it).
 */
export async function checkPromptFits(backend: AnalysisBackend | null, prompt: string, selection: AnalysisSelection): Promise<number | null> {
  if (!backend?.countTokens) return null;
  let tokens: number;
  try {
    ({ tokens } = await backend.countTokens(prompt, AbortSignal.timeout(COUNT_TIMEOUT_MS)));
  } catch (error) {
    const failure = error as BackendFailure;
    if (failure.status === 400 && failure.code === 'prompt_too_long') {
      throw new DomainError('prompt_too_long', failure.detail ?? 'The prompt is longer than the model reads.');
    }
    return null;
  }
  for (const position of selection.positions ?? []) {
    if (position >= tokens || position < -tokens) {
      throw new DomainError(
        'bad_position',
        `Position ${position} is outside the prompt: it is ${formatCount(tokens)} tokens long (positions 0 to ${formatCount(tokens - 1)}, or -${formatCount(tokens)} to -1 from the end).`,
      );
    }
  }
  return tokens;
}

/** The model's context in tokens, or null when the backend does not say (or not in time). */
export async function modelContext(backend: AnalysisBackend | null, timeoutMs = 2_000): Promise<number | null> {
  if (!backend?.capabilities) return null;
  try {
    const { max_tokens: context } = await backend.capabilities(AbortSignal.timeout(timeoutMs));
    return context > 0 ? context : null;
  } catch {
    return null;
  }
}

/**
 * Refuses a `max_prompt_chars` above what the model reads. Without a reachable backend that
 * reports a bound, any value the setting's own range allows is kept.
 */
export async function checkPromptCharsSetting(backend: AnalysisBackend | null, value: number): Promise<void> {
  if (!backend?.capabilities) return;
  let caps: Awaited<ReturnType<NonNullable<AnalysisBackend['capabilities']>>>;
  try {
    caps = await backend.capabilities(AbortSignal.timeout(COUNT_TIMEOUT_MS));
  } catch {
    return;
  }
  const ceiling = caps.max_prompt_chars;
  if (ceiling === undefined || caps.max_tokens <= 0 || value <= ceiling) return;
  throw new DomainError(
    'invalid_setting',
    `max_prompt_chars can be at most ${formatCount(ceiling)}: the model ${caps.model} reads at most ${formatCount(caps.max_tokens)} tokens, which is at most ${formatCount(ceiling)} characters; got ${formatCount(value)}.`,
  );
}
