/**
 * Errors the domain raises for things a user did or asked for. `invokeCommand` turns each into
 * an ErrorView; nothing else reaches a user. The message says what was wrong and what is allowed.
 */
import type { ErrorView } from './view';

export class DomainError extends Error {
  constructor(
    /** Stable code for tests and logs, e.g. 'prompt_too_long'. */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'DomainError';
  }

  toView(): ErrorView {
    return { kind: 'error', code: this.code, message: this.message };
  }
}

/** "2,400": numbers in user-facing messages are grouped the same way everywhere. */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** "#12 does not exist" for explanations, analyses and features alike. */
export function notFound(what: 'Explanation' | 'Analysis', id: number): DomainError {
  return new DomainError(
    what === 'Explanation' ? 'unknown_explanation' : 'unknown_analysis',
    `${what} #${id} does not exist in this workspace. Ids are the numbers shown as #<id> beside each ${what.toLowerCase()}.`,
  );
}
