/** View-model fixtures for the terminal renderer and session tests. */
import { analysisActions, explanationActions } from '../../../src/core/actions';
import type { AnalysisView, ExplanationView, View } from '../../../src/core/view';

export const ESC = '\x1b';

export function explanation(overrides: Partial<ExplanationView> = {}): ExplanationView {
  const explanationId = overrides.explanationId ?? 12;
  return {
    actions: explanationActions(explanationId),
    explanationId: 12,
    number: 1,
    text: 'A Spanish saying about patience.',
    parsed: true,
    claims: ['A Spanish saying about patience.'],
    ar: { cosine: 0.8234, mseNrm: 0.3532, fveNrm: 0.6123 },
    state: 'open',
    tally: null,
    myVote: null,
    ...overrides,
  };
}

/** "Hola mundo" with BOS, tokens per byte; position 10 ("o") analysed. */
export function doneAnalysis(overrides: Partial<AnalysisView> = {}): AnalysisView {
  const prompt = 'Hola mundo';
  const tokens = [{ text: '<|bos|>', start: 0, end: 0 }, ...[...prompt].map((ch, i) => ({ text: ch, start: i, end: i + 1 }))];
  return {
    kind: 'analysis',
    analysisId: 7,
    status: 'done',
    actions: analysisActions({ analysisId: overrides.analysisId ?? 7, status: overrides.status ?? 'done', retryable: overrides.retryable }),
    prompt,
    tokens,
    model: 'confab-reference-v1',
    layer: 2,
    requestedBy: 'alice',
    positions: [
      {
        position: 10,
        token: 'o',
        features: [
          { index: 483, label: 'Spanish saying', activation: 2.5 },
          { index: 17, label: 'end of word', activation: 1.25 },
        ],
        l0: 16,
        explainedVariance: 0.93,
        fveNrm: 0.91,
        explanations: [explanation(), explanation({ explanationId: 13, number: 2, text: 'Italian.', parsed: false, ar: null })],
      },
    ],
    ...overrides,
  };
}

/** One of every view kind, with hostile text in every user-controlled field. */
export function everyViewKind(hostile: string): View[] {
  const analysis = doneAnalysis({ prompt: `Hola${hostile}`, tokens: [], requestedBy: hostile });
  analysis.positions[0].token = hostile;
  analysis.positions[0].features[0].label = hostile;
  analysis.positions[0].explanations[0].text = hostile;
  return [
    analysis,
    { ...doneAnalysis(), status: 'queued', prompt: hostile, requestedBy: hostile, model: '', layer: -1, positions: [], tokens: [] },
    { ...doneAnalysis(), status: 'failed', error: `worker said ${hostile}`, retryable: true, positions: [] },
    { kind: 'review-item', analysis, position: analysis.positions[0], explanation: analysis.positions[0].explanations[0] },
    {
      kind: 'vote-ack',
      explanationId: 12,
      myVote: 'confabulated',
      change: 'changed',
      previous: 'faithful',
      tally: { faithful: 1, confabulated: 2, unsure: 0 },
      closedNow: true,
      state: 'closed',
      note: hostile,
      markedClaims: [hostile],
    },
    {
      kind: 'stats',
      scope: hostile,
      analyses: 1200,
      explanations: 3,
      votes: 9,
      reviewers: 3,
      openItems: 1,
      closedItems: 2,
      confabulationRate: { rate: 0.5, low: 0.0946, high: 0.9056, n: 2 },
      extra: [{ label: hostile, value: hostile }],
    },
    {
      kind: 'feature',
      index: 483,
      label: hostile,
      firedCount: 4,
      analysedPositions: 10,
      examples: [{ analysisId: 7, token: hostile, context: hostile, activation: 2.5 }],
    },
    { kind: 'settings', settings: { votes_to_close: 5, [hostile]: hostile }, changed: ['votes_to_close'] },
    { kind: 'message', title: hostile, lines: [hostile], tone: 'warning' },
    { kind: 'error', code: 'x', message: hostile },
    { kind: 'file', path: `/tmp/${hostile}`, filename: hostile, bytes: 2048, contentType: 'application/json', summary: [hostile] },
  ];
}
