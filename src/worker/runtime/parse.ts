/**
 * Pulling the explanation out of what the AV generated. The reference client parses
 * `<explanation>\s*(.*?)\s*</explanation>` (dotall). When the tags are missing the raw text is
 * kept and flagged, because an untagged output is itself evidence the injection failed.
 */
export interface ParsedExplanation {
  text: string;
  raw: string;
  parsed: boolean;
}

const EXPLANATION = /<explanation>\s*([\s\S]*?)\s*<\/explanation>/;

/**
 * `generated` is the continuation only. When the AV template ends with the open tag, the tag
 * is part of the prompt, so it is put back before matching.
 */
export function parseExplanation(generated: string, templateEndsWithOpenTag: boolean): ParsedExplanation {
  const full = templateEndsWithOpenTag ? `<explanation>${generated}` : generated;
  const m = EXPLANATION.exec(full);
  if (m) return { text: m[1], raw: generated, parsed: true };
  return { text: generated.trim(), raw: generated, parsed: false };
}

export const EXPLANATION_CLOSE = '</explanation>';
