import { describe, expect, it } from 'vitest';
import { highlightPrompt, renderView, SELECTED_CLOSE, SELECTED_OPEN } from '../../../src/platforms/terminal/render';
import { doneAnalysis, ESC, everyViewKind, explanation } from './fixtures';

const plain = { color: false };
const color = { color: true };

/** Every ESC in colour output must start one of the renderer's own SGR sequences. */
function onlySgr(text: string): boolean {
  return [...text.matchAll(/\x1b/g)].every((m) => /^\x1b\[\d+m/.test(text.slice(m.index)));
}

describe('renderView, plain (piped)', () => {
  it('writes no control characters for any view, whatever the user typed', () => {
    const hostile = `x${ESC}[2J${ESC}]52;c;ZXZpbA==\x07\u009b31m\u202eevil\r\n`;
    for (const view of everyViewKind(hostile)) {
      const out = renderView(view, plain);
      expect(out, view.kind).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/);
      expect(out, view.kind).toContain('\\x1b');
    }
  });

  it('shows an analysis: prompt with the token marked, features with bars, numbered explanations with ids and scores', () => {
    const out = renderView(doneAnalysis(), plain);
    expect(out).toContain('Analysis 7 · done · confab-reference-v1 layer 2 · asked by alice');
    expect(out).toContain(`Prompt: Hola mund${SELECTED_OPEN}o${SELECTED_CLOSE}`);
    expect(out).toMatch(/Token 10 "o" · SAE L0 16 · explained variance 0\.93 · fve_nrm 0\.91/);
    // The strongest feature gets a full bar, half the activation half a bar.
    expect(out).toMatch(/f483 {2}█{12} +2\.50 {2}Spanish saying/);
    expect(out).toMatch(/f17 {3}█{6}░{6} +1\.25 {2}end of word/);
    expect(out).toContain('1. #12  "A Spanish saying about patience."');
    expect(out).toContain('AR round trip: cosine 0.82 · mse_nrm 0.35 · fve_nrm 0.61');
    expect(out).toContain('2. #13  "Italian." (no <explanation> tags; raw output)');
    expect(out).toContain('AR round trip: n/a');
    expect(out).toContain('votes hidden until you vote');
    expect(out).toContain('vote: /vote #12 faithful|confabulated|unsure [note]');
  });

  it('numbers the claims of a several-sentence explanation, for marking wrong ones', () => {
    const analysis = doneAnalysis();
    analysis.positions[0].explanations = [explanation({ text: 'Spanish. A saying.', claims: ['Spanish.', 'A saying.'] })];
    const out = renderView(analysis, plain);
    expect(out).toContain('       claim 1: Spanish.\n       claim 2: A saying.');
    expect(renderView(doneAnalysis(), plain)).not.toContain('claim 1:');
  });

  it('shows the tally and outcome once visible, and no vote hint on a closed item', () => {
    const analysis = doneAnalysis();
    analysis.positions[0].explanations = [
      explanation({ state: 'closed', outcome: 'confabulated', closedReason: 'votes', myVote: 'faithful', tally: { faithful: 1, confabulated: 2, unsure: 0 } }),
    ];
    const out = renderView(analysis, plain);
    expect(out).toContain('closed: confabulated (votes) · your vote: faithful · votes: 1 faithful · 2 confabulated · 0 unsure');
    expect(out).not.toContain('vote: /vote');
  });

  it('shows a pending analysis without a model, and a failed one with its reason and how to retry', () => {
    const queued = renderView({ ...doneAnalysis(), status: 'queued', model: '', layer: -1, tokens: [], positions: [] }, plain);
    expect(queued.split('\n')[0]).toBe('Analysis 7 · queued · asked by alice');
    // The prompt shows once, in the result: a long one typed at the prompt would otherwise fill the screen again here.
    expect(queued).not.toContain('Hola mundo');
    expect(queued).toContain('Analysing; the result, with the prompt, will appear here when the worker answers.');
    const failed = renderView({ ...doneAnalysis(), status: 'failed', error: 'The worker did not answer within 60 s.', retryable: true, positions: [] }, plain);
    expect(failed).toContain('Failed: The worker did not answer within 60 s.');
    expect(failed).toContain('Retry with: /retry 7');
    expect(renderView({ ...doneAnalysis(), status: 'failed', error: 'Bad position.', retryable: false, positions: [] }, plain)).not.toContain('/retry');
  });

  it('acknowledges votes: recorded, changed, unchanged, closing', () => {
    const base = { kind: 'vote-ack', explanationId: 12, myVote: 'faithful', tally: { faithful: 1, confabulated: 0, unsure: 0 }, closedNow: false, state: 'open' } as const;
    expect(renderView({ ...base, change: 'recorded' }, plain)).toContain('Vote recorded on #12: faithful.');
    expect(renderView({ ...base, change: 'unchanged' }, plain)).toContain('You already voted faithful on #12; nothing changed.');
    expect(renderView({ ...base, change: 'changed', previous: 'unsure' }, plain)).toContain('Vote on #12 changed from unsure to faithful.');
    expect(renderView({ ...base, change: 'recorded', closedNow: true, state: 'closed' }, plain)).toContain('This vote closed #12.');
  });

  it('lays stats out as aligned rows with the interval', () => {
    const [stats] = everyViewKind('team').filter((v) => v.kind === 'stats');
    const out = renderView(stats, plain);
    expect(out).toMatch(/^ {2}Analyses +1,200$/m);
    expect(out).toMatch(/^ {2}Closed items +2$/m);
    expect(out).toContain('Confabulation rate  50.0% (95% CI 9.5%–90.6%) over 2 closed items with a majority label');
  });
});

describe('renderView, colour (TTY)', () => {
  it('highlights the selected token in reverse video', () => {
    const out = renderView(doneAnalysis(), color);
    expect(out).toContain('Prompt: Hola mund\x1b[1m\x1b[7mo\x1b[27m\x1b[22m');
    expect(out).not.toContain(SELECTED_OPEN);
  });

  it('emits only its own SGR sequences, never one from user text', () => {
    const hostile = `${ESC}[31mred${ESC}]0;title\x07\u009b2J`;
    for (const view of everyViewKind(hostile)) {
      const out = renderView(view, color);
      expect(onlySgr(out), view.kind).toBe(true);
      expect(out).not.toMatch(/[\x07\u009b]/);
    }
  });
});

describe('highlightPrompt', () => {
  it('marks several tokens and skips special tokens without offsets', () => {
    const view = doneAnalysis();
    expect(highlightPrompt(view, [0, 1, 10], plain)).toBe(`${SELECTED_OPEN}H${SELECTED_CLOSE}ola mund${SELECTED_OPEN}o${SELECTED_CLOSE}`);
  });

  it('escapes control characters inside and around the marked token', () => {
    const view = { prompt: `a${ESC}b`, tokens: [{ text: 'a', start: 0, end: 1 }, { text: ESC, start: 1, end: 2 }, { text: 'b', start: 2, end: 3 }] };
    expect(highlightPrompt(view, [1], plain)).toBe(`a${SELECTED_OPEN}\\x1b${SELECTED_CLOSE}b`);
  });
});
