/**
 * Automatic confabulation signals, stored per explanation (in `explanations.signals`, by name)
 * and measured against the human labels by AUROC.
 *
 * Convention: every signal is a *faithfulness score* — higher means "more likely faithful" —
 * so one AUROC definition serves all of them: P(score of a faithful item > score of a
 * confabulated item).
 *
 * 1. `ar_fve_nrm`: the AR round trip's fve_nrm, already stored with the explanation.
 * 2. `feature_overlap`: how much of what the explanation says is backed by the labels of the
 *    SAE features active at the same position (defined in `featureOverlap` below).
 * 3. `judge`: optional; an LLM reads the explanation and the features and answers with a
 *    verdict. Off unless `config.judge` is set; the client is injected (src/inference/judge.ts).
 */
// ---------------------------------------------------------------------------------------------
// Content words and the feature-label overlap
// ---------------------------------------------------------------------------------------------

/**
 * Function words removed before comparing. English, plus Spanish and Italian because the
 * reference model's corpus has sayings in both, plus words every NLA explanation uses about
 * itself ("token", "text", "context") that would match any feature label and carry no claim.
 */
const STOPWORDS = new Set(
  (
    'a about above after again against all also am an and any are as at be because been before being below between both but by can could did do does doing down during each few for from further had has have having he her here hers herself him himself his how i if in into is it its itself just like likely may me might more most my myself no nor not now of off on once only or other our ours ourselves out over own perhaps possibly probably same she should so some such than that the their theirs them themselves then there these they this those through to too under until up very was we were what when where which while who whom why will with would you your yours yourself yourselves ' +
    'el la los las un una unos unas y o de del al en que por para con sin se su sus es son lo le les mas pero como muy ya no si ' +
    'il lo gli le uno una e ed di da in con su per tra fra che non si piu ma come anche sono del della dei delle nel nella ' +
    'token tokens text word words context contexts phrase phrases refers related relating concept concepts something appears appear seems seem'
  ).split(/\s+/),
);

/**
 * Normalises a word so that small inflections match: lower case, diacritics removed (NFKD),
 * then one common English suffix stripped ("-ies"→"y", "-es", "-s", "-ing", "-ed") when at
 * least three letters remain. Crude on purpose: the point is that "dictionaries" matches a
 * feature labelled "dictionary", not linguistic accuracy.
 */
export function normaliseWord(word: string): string {
  let w = word
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase();
  if (w.length > 4 && w.endsWith('ies')) w = `${w.slice(0, -3)}y`;
  else if (w.length > 5 && w.endsWith('ing')) w = w.slice(0, -3);
  else if (w.length > 4 && w.endsWith('ed')) w = w.slice(0, -2);
  else if (w.length > 4 && w.endsWith('es') && /(ss|x|z|ch|sh)es$/.test(w)) w = w.slice(0, -2);
  else if (w.length > 3 && w.endsWith('s') && !w.endsWith('ss')) w = w.slice(0, -1);
  return w;
}

/** The set of normalised content words of a text: letters/digits runs of ≥ 3, stopwords out. */
export function contentWords(text: string): Set<string> {
  const words = new Set<string>();
  for (const match of text.matchAll(/[\p{L}\p{N}]+/gu)) {
    const raw = match[0].toLowerCase();
    if (raw.length < 3 || STOPWORDS.has(raw)) continue;
    const w = normaliseWord(raw);
    if (w.length < 3 || STOPWORDS.has(w)) continue;
    words.add(w);
  }
  return words;
}

export interface ActiveFeature {
  index: number;
  activation: number;
  label: string;
}

export interface FeatureOverlap {
  /** |E ∩ F| / |E|, or null when the explanation has no content word. */
  score: number | null;
  /** The explanation's content words found in some active feature's label. */
  matched: string[];
  /** Number of content words in the explanation (|E|). */
  contentWords: number;
}

/**
 * Feature-label overlap. Let E be the explanation's content words and F the union of the
 * content words of the labels of the position's active SAE features (activation > 0; dead or
 * unlabelled features contribute nothing). The score is |E ∩ F| / |E|: the share of what the
 * explanation talks about that some firing feature's label also names. It is a precision, not
 * a recall, because an NLA explanation that says less than the features is not confabulating;
 * one that talks about things no active feature mentions may be.
 */
export function featureOverlap(explanation: string, features: readonly ActiveFeature[]): FeatureOverlap {
  const e = contentWords(explanation);
  if (e.size === 0) return { score: null, matched: [], contentWords: 0 };
  const f = new Set<string>();
  for (const feature of features) {
    if (!(feature.activation > 0)) continue;
    for (const w of contentWords(feature.label)) f.add(w);
  }
  const matched = [...e].filter((w) => f.has(w)).sort();
  return { score: matched.length / e.size, matched, contentWords: e.size };
}

// ---------------------------------------------------------------------------------------------
// The LLM judge, as the core needs it (the client is src/inference/judge.ts)
// ---------------------------------------------------------------------------------------------

export interface JudgeInput {
  prompt: string;
  token: string;
  explanation: string;
  features: readonly ActiveFeature[];
}

export interface JudgeVerdict {
  verdict: 'faithful' | 'confabulated';
  /** The judge's confidence in its verdict, 0.5–1. */
  confidence: number;
  /** Faithfulness score: confidence when faithful, 1 − confidence when confabulated. */
  score: number;
  model: string;
}

export type JudgeFailure = 'timeout' | 'malformed' | 'unavailable';

/** A judgement that failed in a way worth recording; anything else a judge throws is a bug. */
export class JudgeError extends Error {
  constructor(
    readonly kind: JudgeFailure,
    message: string,
  ) {
    super(message);
    this.name = 'JudgeError';
  }
}

export interface Judge {
  readonly model: string;
  judge(input: JudgeInput, signal?: AbortSignal): Promise<JudgeVerdict>;
}

// ---------------------------------------------------------------------------------------------
// The signals record stored per explanation
// ---------------------------------------------------------------------------------------------

/** Shape written to `explanations.signals` (jsonb). Absent keys mean "not computed". */
export interface StoredSignals {
  feature_overlap?: { score: number | null; matched: string[]; content_words: number };
  judge?: { score: number; verdict: 'faithful' | 'confabulated'; confidence: number; model: string } | { error: JudgeFailure; model: string };
}

/** The names of the numeric signals the stats and the dataset report, in display order. */
export const SIGNAL_NAMES = ['ar_fve_nrm', 'feature_overlap', 'judge'] as const;
export type SignalName = (typeof SIGNAL_NAMES)[number];

/**
 * Computes the signals for one explanation. The judge runs only when given; its failure is
 * recorded (so a later backfill can retry) rather than thrown.
 */
export async function computeSignals(input: JudgeInput, judge: Judge | null, signal?: AbortSignal): Promise<StoredSignals> {
  const overlap = featureOverlap(input.explanation, input.features);
  const stored: StoredSignals = {
    feature_overlap: { score: overlap.score, matched: overlap.matched, content_words: overlap.contentWords },
  };
  if (judge) {
    try {
      const v = await judge.judge(input, signal);
      stored.judge = { score: v.score, verdict: v.verdict, confidence: v.confidence, model: v.model };
    } catch (error) {
      if (!(error instanceof JudgeError)) throw error;
      stored.judge = { error: error.kind, model: judge.model };
    }
  }
  return stored;
}

/** Reads one numeric signal back from an explanation's columns; null when absent. */
export function signalValue(name: SignalName, row: { arFveNrm: number | null; signals: Record<string, unknown> | null }): number | null {
  if (name === 'ar_fve_nrm') return row.arFveNrm ?? null;
  const entry = row.signals?.[name] as { score?: unknown } | undefined;
  return typeof entry?.score === 'number' && Number.isFinite(entry.score) ? entry.score : null;
}
