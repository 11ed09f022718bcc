/**
 * The claims of an explanation: its sentences, which a reviewer may mark as wrong. Claims are
 * numbered from 1 in the order they appear; the same split is used to show them and to resolve
 * the numbers a reviewer sends back, so a mark always names the sentence that was shown.
 */
export function splitClaims(text: string): string[] {
  const claims = text
    .split(/(?<=[.!?;])\s+|\n+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  return claims.length > 0 ? claims : text.trim() ? [text.trim()] : [];
}
