/**
 * What a reader needs to read a result without the README: a one-line legend for the scores,
 * feature labels whose counts say what they count, and feature references inside an
 * explanation written the way the feature list writes them (`f1023`), so they cannot be taken
 * for explanation ids (`#12`).
 */

export const SCORE_LEGEND =
  'Scores: cosine, higher is better, 1 is perfect; fve_nrm, 1 is perfect, 0 is as good as predicting the mean, below 0 is worse than that.';

/** "token \"a\" (14/20)" → "token \"a\" (14 of 20 top examples)": the counts of a top-contexts label. */
export function readableFeatureLabel(label: string): string {
  return label.replace(/\((\d+)\/(\d+)\)/g, (_, hits: string, of: string) => `(${hits} of ${of} top examples)`);
}

/** "… next \" Al\"; #780" → "… f780": an NLA's feature reference, not an explanation id. */
export function featureReferences(text: string): string {
  return text.replace(/(?<![\w#&])#(\d+)\b/g, 'f$1');
}
