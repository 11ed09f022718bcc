/**
 * The action codec and the one mapping from an action to the command it runs. The literal ids
 * below are what the Discord channel put on buttons and modals before the codec existed
 * (captured from its renderer and end-to-end tests); messages carrying them must keep working.
 */
import { describe, expect, it } from 'vitest';
import {
  actionExplanationId,
  analysisActions,
  decodeAction,
  encodeAction,
  explanationActions,
  MAX_ACTION_ID_LENGTH,
  type ActionId,
} from '../../src/core/actions';
import { actionCall, noteFormCall } from '../../src/platforms/actions';

/** Ids issued by the version before the codec, and what each meant. */
const CAPTURED: Array<[string, ActionId]> = [
  ['v:11:f', { kind: 'vote', explanationId: 11, label: 'faithful' }],
  ['v:11:c', { kind: 'vote', explanationId: 11, label: 'confabulated' }],
  ['v:11:u', { kind: 'vote', explanationId: 11, label: 'unsure' }],
  ['n:11', { kind: 'note', explanationId: 11 }],
  ['m:31', { kind: 'modal', explanationId: 31 }],
  ['r:7', { kind: 'retry', analysisId: 7 }],
  ['v:123456789012345:c', { kind: 'vote', explanationId: 123456789012345, label: 'confabulated' }],
];

describe('action ids', () => {
  it('decode every id the previous version put on a message', () => {
    for (const [id, action] of CAPTURED) expect(decodeAction(id), id).toEqual(action);
  });

  it('encode to those same ids, so old and new messages read alike', () => {
    for (const [id, action] of CAPTURED) expect(encodeAction(action)).toBe(id);
    expect(encodeAction({ kind: 'next' })).toBe('q');
    expect(decodeAction('q')).toEqual({ kind: 'next' });
  });

  it('round-trip every action, within both platforms\' id limits', () => {
    const actions: ActionId[] = [...explanationActions(999_999_999_999_999), { kind: 'retry', analysisId: 0 }, { kind: 'next' }, { kind: 'modal', explanationId: 1 }];
    for (const action of actions) {
      const id = encodeAction(action);
      expect(id.length).toBeGreaterThan(0);
      expect(id.length).toBeLessThanOrEqual(MAX_ACTION_ID_LENGTH);
      expect(decodeAction(id)).toEqual(action);
    }
    expect(new Set(actions.map(encodeAction)).size).toBe(actions.length);
  });

  it('read anything else as null: malformed, empty, too long, unsafe numbers, other types', () => {
    const bad: unknown[] = [
      '', 'v:5', 'v:5:x', 'n:5:f', 'r:5:f', 'q:1', 'x:1', 'v:-1:f', 'v:1.5:f', 'V:5:f', ' v:5:f', 'v:5:f ', 'v:5:f:f', 'v::f',
      'v:99999999999999999999:f', 'v:9999999999999999:f', `v:${'1'.repeat(200)}:f`, 'q'.repeat(MAX_ACTION_ID_LENGTH + 1),
      undefined, null, 5, {}, ['v:5:f'],
    ];
    for (const id of bad) expect(decodeAction(id), JSON.stringify(id)).toBeNull();
  });

  it('refuse to encode an id that could not be read back', () => {
    expect(() => encodeAction({ kind: 'vote', explanationId: -1, label: 'faithful' })).toThrow(/explanation id must be a whole number/);
    expect(() => encodeAction({ kind: 'note', explanationId: 1.5 })).toThrow(RangeError);
    expect(() => encodeAction({ kind: 'retry', analysisId: Number.MAX_SAFE_INTEGER * 2 })).toThrow(/analysis id/);
    expect(() => encodeAction({ kind: 'vote', explanationId: 1, label: 'maybe' as never })).toThrow(/faithful, confabulated, unsure; got maybe/);
  });

  it('say which explanation an action is about', () => {
    expect(actionExplanationId({ kind: 'vote', explanationId: 3, label: 'unsure' })).toBe(3);
    expect(actionExplanationId({ kind: 'modal', explanationId: 4 })).toBe(4);
    expect(actionExplanationId({ kind: 'retry', analysisId: 3 })).toBeNull();
    expect(actionExplanationId({ kind: 'next' })).toBeNull();
  });
});

describe('actions a view carries', () => {
  it('an explanation: three votes, then a note', () => {
    expect(explanationActions(12).map(encodeAction)).toEqual(['v:12:f', 'v:12:c', 'v:12:u', 'n:12']);
  });

  it('an analysis: Retry only when it failed and can run again', () => {
    expect(analysisActions({ analysisId: 7, status: 'failed', retryable: true })).toEqual([{ kind: 'retry', analysisId: 7 }]);
    expect(analysisActions({ analysisId: 7, status: 'failed', retryable: false })).toEqual([]);
    expect(analysisActions({ analysisId: 7, status: 'done', retryable: true })).toEqual([]);
  });
});

describe('what an action runs', () => {
  it('a vote runs /vote privately, a retry replaces the failed message, next runs /review', () => {
    expect(actionCall({ kind: 'vote', explanationId: 5, label: 'confabulated' })).toEqual({
      command: 'vote', options: { explanation: 5, label: 'confabulated' }, reply: 'private',
    });
    expect(actionCall({ kind: 'retry', analysisId: 9 })).toEqual({ command: 'retry', options: { analysis: 9 }, reply: 'replace' });
    expect(actionCall({ kind: 'next' })).toEqual({ command: 'review', options: {}, reply: 'private' });
  });

  it('a note form sends its answers as one vote, leaving out empty ones', () => {
    expect(noteFormCall(5, { label: 'unsure', note: 'Half right.', claims: ['1', '3'] })).toEqual({
      command: 'vote', options: { explanation: 5, label: 'unsure', note: 'Half right.', claims: '1,3' }, reply: 'private',
    });
    expect(noteFormCall(5, { label: 'faithful', note: '   ', claims: [] }).options).toEqual({ explanation: 5, label: 'faithful' });
    // A form without a label still reaches /vote, which says what is missing.
    expect(noteFormCall(5, { label: undefined }).options).toEqual({ explanation: 5, label: undefined });
  });
});
