/**
 * What a reviewer can do from a view, and the ids that carry it through a platform: Discord's
 * `custom_id` and Slack's `action_id` both hold what `encodeAction` writes. An id holds only
 * database ids, never state, so a button on a message posted before a restart or an upgrade
 * still works. The format is the one Discord buttons have carried from the start; do not change
 * an existing prefix, only add new ones.
 */

export type VoteLabel = 'faithful' | 'confabulated' | 'unsure';
export const VOTE_LABELS: readonly VoteLabel[] = ['faithful', 'confabulated', 'unsure'];

export type Action =
  | { kind: 'vote'; explanationId: number; label: VoteLabel }
  /** Opens the note form (label, note, claims marked wrong) for one explanation. */
  | { kind: 'note'; explanationId: number }
  | { kind: 'retry'; analysisId: number }
  /** The next item of the review queue. */
  | { kind: 'next' };

/** The note form submitted: platforms show it as a modal, whose id comes back with the answers. */
export interface NoteFormAction {
  kind: 'modal';
  explanationId: number;
}

export type ActionId = Action | NoteFormAction;

/** Discord's custom_id limit, the smaller of the two platforms' (Slack allows 255). */
export const MAX_ACTION_ID_LENGTH = 100;

const LABEL_CODES: Record<VoteLabel, string> = { faithful: 'f', confabulated: 'c', unsure: 'u' };
const CODE_LABELS: Record<string, VoteLabel> = { f: 'faithful', c: 'confabulated', u: 'unsure' };
/** Database ids of up to 15 digits are safe integers. */
const MAX_DIGITS = 15;

function idPart(id: number, what: string): string {
  if (!Number.isSafeInteger(id) || id < 0 || String(id).length > MAX_DIGITS) {
    throw new RangeError(`${what} must be a whole number from 0 to ${MAX_DIGITS} digits; got ${String(id)}.`);
  }
  return String(id);
}

export function encodeAction(action: ActionId): string {
  switch (action.kind) {
    case 'vote':
      if (!VOTE_LABELS.includes(action.label)) throw new RangeError(`A vote label is one of ${VOTE_LABELS.join(', ')}; got ${String(action.label)}.`);
      return `v:${idPart(action.explanationId, 'An explanation id')}:${LABEL_CODES[action.label]}`;
    case 'note':
      return `n:${idPart(action.explanationId, 'An explanation id')}`;
    case 'modal':
      return `m:${idPart(action.explanationId, 'An explanation id')}`;
    case 'retry':
      return `r:${idPart(action.analysisId, 'An analysis id')}`;
    case 'next':
      return 'q';
  }
}

/** Reads an id this codec wrote; anything else (unknown formats, tampering) is null. */
export function decodeAction(id: unknown): ActionId | null {
  if (typeof id !== 'string' || id.length > MAX_ACTION_ID_LENGTH) return null;
  if (id === 'q') return { kind: 'next' };
  const m = /^([vnmr]):(\d{1,15})(?::([fcu]))?$/.exec(id);
  if (!m) return null;
  const n = Number(m[2]);
  if (!Number.isSafeInteger(n)) return null;
  if (m[1] === 'v') return m[3] ? { kind: 'vote', explanationId: n, label: CODE_LABELS[m[3]] } : null;
  if (m[3]) return null;
  if (m[1] === 'n') return { kind: 'note', explanationId: n };
  if (m[1] === 'm') return { kind: 'modal', explanationId: n };
  return { kind: 'retry', analysisId: n };
}

/** The explanation an action is about, if any: closing that explanation disables it. */
export function actionExplanationId(action: ActionId): number | null {
  return action.kind === 'vote' || action.kind === 'note' || action.kind === 'modal' ? action.explanationId : null;
}

/** What a reviewer can do with an explanation: vote three ways, or add a note with a vote. */
export function explanationActions(explanationId: number): Action[] {
  return [...VOTE_LABELS.map((label): Action => ({ kind: 'vote', explanationId, label })), { kind: 'note', explanationId }];
}

/** A failed analysis that can run again offers Retry. */
export function analysisActions(analysis: { analysisId: number; status: string; retryable?: boolean }): Action[] {
  return analysis.status === 'failed' && analysis.retryable ? [{ kind: 'retry', analysisId: analysis.analysisId }] : [];
}
