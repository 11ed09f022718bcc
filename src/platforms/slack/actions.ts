/**
 * Button and modal ids. They carry database ids only, never state, so buttons on a message
 * posted before a restart keep working. The format is the Discord channel's, which is
 * platform-neutral (`v:<explanationId>:f|c|u`, `n:<explanationId>`, `m:<explanationId>`,
 * `r:<analysisId>`), plus `x:<explanationId>` for "next item" after a reviewed one.
 */
import type { VoteLabel } from '../../core/view';

export type SlackAction =
  | { kind: 'vote'; explanationId: number; label: VoteLabel }
  | { kind: 'note'; explanationId: number }
  | { kind: 'modal'; explanationId: number }
  | { kind: 'retry'; analysisId: number }
  | { kind: 'next'; explanationId: number };

const LABEL_CODES: Record<VoteLabel, string> = { faithful: 'f', confabulated: 'c', unsure: 'u' };
const CODE_LABELS: Record<string, VoteLabel> = { f: 'faithful', c: 'confabulated', u: 'unsure' };

export function encodeAction(action: SlackAction): string {
  switch (action.kind) {
    case 'vote':
      return `v:${action.explanationId}:${LABEL_CODES[action.label]}`;
    case 'note':
      return `n:${action.explanationId}`;
    case 'modal':
      return `m:${action.explanationId}`;
    case 'retry':
      return `r:${action.analysisId}`;
    case 'next':
      return `x:${action.explanationId}`;
  }
}

/** Parse an id we issued; anything else (old formats, tampering) is null. */
export function decodeAction(id: string): SlackAction | null {
  const m = /^([vnmrx]):(\d{1,15})(?::([fcu]))?$/.exec(id);
  if (!m) return null;
  const n = Number(m[2]);
  if (!Number.isSafeInteger(n) || n < 1) return null;
  if (m[1] === 'v') return m[3] ? { kind: 'vote', explanationId: n, label: CODE_LABELS[m[3]] } : null;
  if (m[3]) return null;
  if (m[1] === 'n') return { kind: 'note', explanationId: n };
  if (m[1] === 'm') return { kind: 'modal', explanationId: n };
  if (m[1] === 'x') return { kind: 'next', explanationId: n };
  return { kind: 'retry', analysisId: n };
}
