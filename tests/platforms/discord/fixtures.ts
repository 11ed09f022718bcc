/** View models for renderer tests: ordinary ones and deliberately hostile or huge ones. */
import { analysisActions, explanationActions } from '../../../src/core/actions';
import type { AnalysisView, ExplanationView, PositionView } from '../../../src/core/view';

export function explanation(id: number, number: number, text: string, claims: string[], extra: Partial<ExplanationView> = {}): ExplanationView {
  return {
    explanationId: id,
    number,
    text,
    parsed: true,
    claims,
    ar: { cosine: 0.91, mseNrm: 0.18, fveNrm: 0.62 },
    state: 'open',
    tally: null,
    actions: explanationActions(id),
    ...extra,
  };
}

/** Byte-ish tokens: one per character, with offsets into the prompt. */
export function tokensOf(prompt: string): AnalysisView['tokens'] {
  return [...prompt].reduce<AnalysisView['tokens']>((acc, ch) => {
    const start = acc.length ? acc[acc.length - 1].end : 0;
    acc.push({ text: ch, start, end: start + ch.length });
    return acc;
  }, []);
}

export function analysis(prompt: string, positions: PositionView[], extra: Partial<AnalysisView> = {}): AnalysisView {
  const status = extra.status ?? 'done';
  return {
    actions: analysisActions({ analysisId: extra.analysisId ?? 7, status, retryable: extra.retryable }),
    kind: 'analysis',
    analysisId: 7,
    status: 'done',
    prompt,
    tokens: tokensOf(prompt),
    model: 'confab-reference-v1',
    layer: 2,
    positions,
    requestedBy: 'ana',
    ...extra,
  };
}

export function position(pos: number, token: string, explanations: ExplanationView[], featureLabel = 'computing jargon'): PositionView {
  return {
    position: pos,
    token,
    features: Array.from({ length: 8 }, (_, i) => ({ index: 100 + i, label: `${featureLabel} ${i}`, activation: 4 - i * 0.4 })),
    l0: 16,
    explainedVariance: 0.83,
    fveNrm: 0.71,
    explanations,
  };
}
