/**
 * The digest in the terminal: its text, first line `Digest · <period label>`, and the chart saved
 * as a PNG under $CONFAB_DATA_DIR/digests/ (a terminal cannot show it).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { DigestEvent } from '../../core/services';
import type { Digest } from '../../core/digest/content';
import { digestLines, digestTitle } from '../../core/digest/text';
import { renderDigestChart } from '../../render/chart';
import { escapeTerminal } from './escape';

/** Where the chart of a digest goes: one file per workspace and period. */
export function digestChartPath(dataDir: string, workspaceId: string, digest: Digest): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '') || 'x';
  return path.join(dataDir, 'digests', `${safe(workspaceId)}-${safe(digest.period.label)}.png`);
}

/** The digest as terminal text, the chart's path on its last line. */
export function digestText(digest: Digest, late: boolean, chartPath: string | null): string {
  const lines = [digestTitle(digest)];
  if (late) lines.push('(posted late: Confab was not running at the scheduled time)');
  lines.push(...digestLines(digest));
  if (chartPath) lines.push(`Chart: ${chartPath}`);
  return lines.map((l) => escapeTerminal(l)).join('\n');
}

/** The terminal's digest listener: writes the chart, then prints the text. */
export async function printDigest(event: DigestEvent, dataDir: string, print: (text: string) => void): Promise<boolean> {
  if (event.platform !== 'terminal') return false;
  const file = digestChartPath(dataDir, event.workspaceId, event.digest);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, await renderDigestChart(event.digest));
  print(digestText(event.digest, event.late, file));
  return true;
}
