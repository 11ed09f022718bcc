/**
 * The README's terminal example is what the program prints: its script (the `printf … | npx
 * confab start` block) runs against the real executable (terminal channel, embedded worker on
 * the reference models, PGlite in a new temporary data folder), and the output block under it
 * must equal what came out.
 *
 * Nothing is normalised: on a new data folder the analysis and explanation ids start at 1, the
 * reference stack is deterministic (seeded sampling), and a piped session prints no timings
 * (the start-up line with the load time is a log record, on stderr).
 *
 * After a deliberate change to the terminal output, regenerate the block with
 *   CONFAB_UPDATE_README=1 npx vitest run tests/readme/readme-session.test.ts
 * and read the diff before committing it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanUp, runConfab, tempDir } from '../cli/run-confab';

afterAll(cleanUp);

const README = path.resolve(import.meta.dirname, '../../README.md');
const SCRIPT_MARK = '<!-- readme-session: script -->';
const OUTPUT_MARK = '<!-- readme-session: output -->';

/** The fenced block right after `mark`: its text and where it sits in the README. */
function blockAfter(readme: string, mark: string): { body: string; start: number; end: number } {
  const at = readme.indexOf(mark);
  if (at < 0) throw new Error(`README.md has no ${mark} marker.`);
  const open = /```[a-z]*\n/.exec(readme.slice(at));
  if (!open) throw new Error(`No fenced block after ${mark}.`);
  const start = at + open.index + open[0].length;
  const end = readme.indexOf('\n```', start - 1);
  return { body: readme.slice(start, end + 1), start, end: end + 1 };
}

/** The lines a shell would feed from `printf '…'`: the README's script is one printf. */
function scriptOf(block: string): { input: string; args: string[] } {
  const match = /^printf '([^']*)' \\\n\s*\| npx confab (.+)\n$/.exec(block);
  if (!match) throw new Error(`The script block is not "printf '…' \\ | npx confab …":\n${block}`);
  return { input: match[1].replace(/\\n/g, '\n'), args: match[2].trim().split(/\s+/) };
}

describe('README terminal session', () => {
  it('prints what the README shows, for the README’s own script', async () => {
    const readme = readFileSync(README, 'utf8');
    const { input, args } = scriptOf(blockAfter(readme, SCRIPT_MARK).body);
    expect(args.slice(0, 2)).toEqual(['start', '--local']);

    const run = await runConfab(args, { input, env: { CONFAB_DATA_DIR: path.join(tempDir('confab-readme-'), 'data') } });
    expect(run.code, run.stderr).toBe(0);
    const printed = run.stdout.replace(/\n+$/, '\n');

    const shown = blockAfter(readme, OUTPUT_MARK);
    if (process.env.CONFAB_UPDATE_README === '1' && shown.body !== printed) {
      writeFileSync(README, readme.slice(0, shown.start) + printed + readme.slice(shown.end));
    } else {
      expect(shown.body).toBe(printed);
    }
  }, 240_000);
});
