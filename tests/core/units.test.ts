/** Pure pieces of the core: claims, prompt checks, failure classification, token lookup, views. */
import { describe, expect, it } from 'vitest';
import { explanations } from '../../db/schema';
import { checkPrompt, checkSelection } from '../../src/core/analyses';
import { AnalysisBackendError } from '../../src/core/backend';
import { splitClaims } from '../../src/core/claims';
import { classifyFailure, positionOfText } from '../../src/core/dispatcher';
import { DomainError } from '../../src/core/errors';
import { contextAround } from '../../src/core/features';
import { characterCount, findControlCharacter } from '../../src/core/text';
import { explanationView, outcomeOf } from '../../src/core/views';
import { WorkerRejectedError, WorkerUnavailableError } from '../../src/inference/errors';
import { byteTokens } from './fixture-worker';

function domainError(fn: () => void): DomainError {
  try {
    fn();
  } catch (e) {
    return e as DomainError;
  }
  throw new Error('expected a DomainError');
}

describe('claims', () => {
  it('splits an explanation into its sentences', () => {
    expect(splitClaims('Spanish proverb. About money! Next token is "y"?')).toEqual(['Spanish proverb.', 'About money!', 'Next token is "y"?']);
    expect(splitClaims('one line\nsecond line')).toEqual(['one line', 'second line']);
    expect(splitClaims('no full stop')).toEqual(['no full stop']);
    expect(splitClaims('   ')).toEqual([]);
  });
});

describe('prompt checks', () => {
  it('counts characters as people do and groups thousands in the message', () => {
    expect(characterCount('😀é')).toBe(2);
    expect(() => checkPrompt('😀'.repeat(2000), 2000)).not.toThrow();
    expect(domainError(() => checkPrompt('x'.repeat(12_345), 2000)).message).toBe('Prompt is 12,345 characters; the limit is 2,000.');
    expect(domainError(() => checkPrompt(' \t', 2000)).code).toBe('prompt_empty');
  });

  it('finds control characters by code point', () => {
    expect(findControlCharacter('fine\ttext\r\n')).toBeNull();
    expect(findControlCharacter('bell\u0007')).toBe('U+0007');
    expect(findControlCharacter('del\u007f')).toBe('U+007F');
  });

  it('requires token text to occur in the prompt', () => {
    expect(() => checkSelection('The cat', { token: 'cat' })).not.toThrow();
    expect(domainError(() => checkSelection('The cat', { token: 'Cat' })).code).toBe('unknown_token');
  });
});

describe('token lookup', () => {
  it('takes the last token of the first occurrence', () => {
    const tokens = byteTokens('a cat, a cat');
    expect(positionOfText('a cat, a cat', tokens, 'cat')).toBe(5); // BOS a _ c a t
    expect(positionOfText('a cat, a cat', tokens, 'dog')).toBeNull();
    // Multi-byte characters: every byte token of "é" spans the character; the last one is chosen.
    expect(positionOfText('café', byteTokens('café'), 'é')).toBe(5);
  });
});

describe('failure classification', () => {
  it('reads the inference client errors', () => {
    const down = classifyFailure(new WorkerUnavailableError([{ url: 'http://127.0.0.1:8477', reason: 'connection refused' }]), 60_000);
    expect(down).toMatchObject({ code: 'worker_unavailable', retryable: true });
    // Chat users read this message: the worker's address stays in the logs.
    expect(down.message).toBe('The inference worker is unavailable. Try /retry in a moment.');
    const rejected = classifyFailure(new WorkerRejectedError('http://w', 400, 'too_many_tokens', 'The prompt is 300 tokens; the limit is 128.'), 60_000);
    expect(rejected).toEqual({ code: 'too_many_tokens', retryable: false, message: 'The worker rejected this analysis: The prompt is 300 tokens; the limit is 128.' });
  });

  it('treats 429 and 5xx as worth a retry, other 4xx as final', () => {
    expect(classifyFailure(new AnalysisBackendError('busy', { status: 429 }), 1000)).toMatchObject({ code: 'worker_busy', retryable: true });
    expect(classifyFailure(new AnalysisBackendError('boom', { status: 500 }), 1000)).toMatchObject({ code: 'worker_error', retryable: true });
    expect(classifyFailure(new AnalysisBackendError('bad', { status: 422 }), 1000)).toMatchObject({ retryable: false });
    expect(classifyFailure(Object.assign(new Error('t'), { name: 'TimeoutError' }), 60_000).message).toContain('within 60 s');
    expect(classifyFailure(new Error('socket hang up'), 1000)).toMatchObject({ code: 'worker_error', retryable: true });
  });

  it('a refused secret (401/403) is a misconfigured worker: retryable, never an input failure', () => {
    for (const status of [401, 403]) {
      expect(classifyFailure(new AnalysisBackendError('denied', { status, retryable: false }), 1000)).toMatchObject({ code: 'worker_misconfigured', retryable: true });
    }
    const refused = classifyFailure(new WorkerUnavailableError([{ url: 'http://a', reason: 'misconfigured: refused our CONFAB_WORKER_SECRET (401)', misconfigured: true }]), 1000);
    expect(refused).toMatchObject({ code: 'worker_misconfigured', retryable: true });
    expect(refused.message).toMatch(/CONFAB_WORKER_SECRET/);
  });

  it('never shows a URL to chat users', () => {
    const failure = classifyFailure(new Error('request to https://user:pw@gpu.example:8000/v1/analyze?api_key=abc failed'), 1000);
    expect(failure.message).toBe('The inference worker failed: request to the inference worker failed. Try /retry.');
  });
});

describe('explanation view', () => {
  const row: typeof explanations.$inferSelect = {
    id: 7, positionId: 1, analysisId: 1, workspaceId: 1, sample: 0, source: 'nla', decoyOfExplanationId: null,
    text: 'A Spanish proverb. About bread.', raw: '<explanation>A Spanish proverb. About bread.</explanation>', parsed: true,
    arCosine: 0.9, arMseNrm: 0.2, arFveNrm: 0.7, signals: {}, state: 'open', closedReason: null, closedAt: null, closedBy: null,
    faithfulVotes: 1, confabulatedVotes: 2, unsureVotes: 1, decisiveVotes: 3, createdAt: new Date(),
  };

  it('hides the tally until the viewer voted or the item closed', () => {
    expect(explanationView(row, 1, null).tally).toBeNull();
    expect(explanationView(row, 1, 'unsure').tally).toEqual({ faithful: 1, confabulated: 2, unsure: 1 });
    const closed = explanationView({ ...row, state: 'closed', closedReason: 'votes' }, 1, null);
    expect(closed).toMatchObject({ tally: { confabulated: 2 }, outcome: 'confabulated', closedReason: 'votes', claims: ['A Spanish proverb.', 'About bread.'] });
    expect(closed.ar).toEqual({ cosine: 0.9, mseNrm: 0.2, fveNrm: 0.7 });
  });

  it('calls a tie undecided', () => {
    expect(outcomeOf({ faithfulVotes: 2, confabulatedVotes: 2 })).toBe('undecided');
  });
});

describe('feature context', () => {
  it('shows the prompt around the token with visible cuts', () => {
    const prompt = `${'a'.repeat(60)}TOKEN${'b'.repeat(60)}`;
    const context = contextAround(prompt, 60, 65);
    expect(context.startsWith('…')).toBe(true);
    expect(context.endsWith('…')).toBe(true);
    expect(context).toContain('TOKEN');
    expect(contextAround('short', 0, 5)).toBe('short');
  });
});
