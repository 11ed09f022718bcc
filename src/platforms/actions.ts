/**
 * What pressing an action's widget runs, for every channel: a vote, a retry, the next review
 * item, or a vote sent from the note form. A channel draws actions, decodes the id that comes
 * back (src/core/actions.ts), and runs the command this returns; it writes no mapping of its own.
 */
import type { ParsedOptions } from '../../commands/types';
import type { Action } from '../core/actions';

export interface ActionCall {
  command: string;
  options: ParsedOptions;
  /**
   * How the answer is shown: 'private' to the one who pressed (a vote's confirmation, a review
   * item), or 'replace' the message the widget was on (a retried analysis replaces the failure).
   */
  reply: 'private' | 'replace';
}

/** The vote command's option names (commands/vote.ts). */
const VOTE = { command: 'vote', explanation: 'explanation', label: 'label', note: 'note', claims: 'claims' } as const;

/** The command an action runs. The note action opens a form instead: see `noteFormCall`. */
export function actionCall(action: Exclude<Action, { kind: 'note' }>): ActionCall {
  switch (action.kind) {
    case 'vote':
      return { command: VOTE.command, options: { [VOTE.explanation]: action.explanationId, [VOTE.label]: action.label }, reply: 'private' };
    case 'retry':
      return { command: 'retry', options: { analysis: action.analysisId }, reply: 'replace' };
    case 'next':
      return { command: 'review', options: {}, reply: 'private' };
  }
}

/** The answers of a note form: a label, and optionally a note and the numbers of claims marked wrong. */
export interface NoteFormAnswers {
  label: string | undefined;
  note?: string;
  claims?: readonly string[];
}

/** The vote a submitted note form sends; the vote command validates each answer. */
export function noteFormCall(explanationId: number, answers: NoteFormAnswers): ActionCall {
  const options: ParsedOptions = { [VOTE.explanation]: explanationId, [VOTE.label]: answers.label };
  if (answers.note?.trim()) options[VOTE.note] = answers.note;
  if (answers.claims?.length) options[VOTE.claims] = answers.claims.join(',');
  return { command: VOTE.command, options, reply: 'private' };
}
