/**
 * `confab digest` as a user runs it (bin/confab.mjs in a child process) on a seeded PGlite data
 * directory: text, --json with exactly the documented keys, --png, and bad input.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../db';
import { cleanUp, runConfab, tempDir } from '../cli/run-confab';
import { seedDigestHistory } from './seed';

let dataDir: string;
const env = () => ({ CONFAB_DATA_DIR: dataDir, CONFAB_LOG_LEVEL: 'warn' });

beforeAll(async () => {
  dataDir = tempDir('confab-digest-cli-');
  const database = await openDatabase({ kind: 'pglite', dir: path.join(dataDir, 'pglite') });
  await seedDigestHistory(database.db);
  await database.close();
}, 180_000);
afterAll(() => cleanUp());

describe('confab digest', () => {
  it('prints one JSON object with the documented keys, and writes the chart', async () => {
    const png = path.join(dataDir, 'charts', 'w48.png');
    const run = await runConfab(['digest', '--week', '2026-W48', '--json', '--png', png], { env: env() });
    expect(run.code, run.stderr).toBe(0);
    const json = JSON.parse(run.stdout);
    expect(Object.keys(json)).toEqual(['period', 'analyses', 'explanations_voted', 'votes', 'reviewers', 'items_closed', 'confabulation_rate', 'alpha', 'decoys', 'contested', 'signals', 'fve_nrm', 'dataset']);
    expect(json).toMatchObject({ period: { label: '2026-W48' }, analyses: 2, explanations_voted: 5, votes: 16, reviewers: 4, items_closed: 4, decoys: { votes: 3, caught: 2 }, dataset: { rows: 6 } });
    expect(json.confabulation_rate.n).toBe(3);
    expect(existsSync(png)).toBe(true);
    expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
  }, 180_000);

  it('prints text beginning "Digest · <week>", and a short digest for an empty week', async () => {
    const run = await runConfab(['digest', '--week', '2026-W40'], { env: env() });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.split('\n').slice(0, 2)).toEqual(['Digest · 2026-W40', 'Nothing was reviewed in 2026-W40: no analyses, no votes, no items closed.']);
  }, 180_000);

  it('refuses a malformed or impossible week and an unknown workspace, saying what is allowed', async () => {
    const malformed = await runConfab(['digest', '--week', '2026-48'], { env: env() });
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('--week must be an ISO week such as 2026-W48; got "2026-48"');
    const impossible = await runConfab(['digest', '--week', '2026-W54', '--workspace', '999'], { env: env() });
    expect(impossible.code).toBe(2);
    expect(impossible.stderr).toContain('There is no workspace "999". Workspaces: 1 (discord:guild-digest)');
    const empty = await runConfab(['digest', '--workspace', ''], { env: env() });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('--workspace needs a workspace number or platform:id');
  }, 240_000);

  it('refuses a week the year does not have', async () => {
    const run = await runConfab(['digest', '--week', '2026-W54', '--workspace', 'discord:guild-digest'], { env: env() });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('2026 has ISO weeks W01 to W53; got "2026-W54"');
  }, 180_000);
});
