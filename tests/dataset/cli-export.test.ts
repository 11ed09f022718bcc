/**
 * `confab dataset export` as a user runs it: into a folder that already holds other files (a
 * project's README.md, an earlier export), through the same main() the executable runs.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main';
import { createTestDatabase, type TestDatabase } from '../db/support';

let database: TestDatabase;
let work: string;

beforeAll(async () => {
  database = await createTestDatabase('pglite');
  if (database.target.kind !== 'pglite') throw new Error('expected PGlite');
  work = path.join(path.dirname(database.target.dir), 'repo');
  mkdirSync(work);
});
afterAll(async () => {
  await database?.drop();
});

async function confab(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const sink = (write: (s: string) => void) => new Writable({ write: (chunk, _enc, done) => (write(String(chunk)), done()) });
  // The data folder holds PGlite under pglite/, which is where the test database was copied.
  const dataDir = database.target.kind === 'pglite' ? path.dirname(database.target.dir) : '';
  const code = await main(argv, {
    stdin: Readable.from([]),
    stdout: sink((s) => (stdout += s)),
    stderr: sink((s) => (stderr += s)),
    env: { CONFAB_DATA_DIR: dataDir, CONFAB_LOG_LEVEL: 'warn' },
  });
  return { code, stdout, stderr };
}

describe('confab dataset export --out', () => {
  it("writes the card as <name>.card.md, leaves the folder's README.md alone, and replaces nothing without --force", async () => {
    writeFileSync(path.join(work, 'README.md'), '# My project\n');
    const first = await confab('dataset', 'export', '--out', path.join(work, 'd.jsonl'));
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`Dataset card: ${path.join(work, 'd.card.md')}`);
    const second = await confab('dataset', 'export', '--format', 'parquet', '--out', path.join(work, 'e.parquet'));
    expect(second.code).toBe(0);
    expect(readdirSync(work).sort()).toEqual(['README.md', 'd.card.md', 'd.jsonl', 'e.card.md', 'e.parquet']);
    expect(readFileSync(path.join(work, 'README.md'), 'utf8')).toBe('# My project\n');

    const cardBefore = readFileSync(path.join(work, 'd.card.md'), 'utf8');
    const again = await confab('dataset', 'export', '--out', path.join(work, 'd.jsonl'));
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toContain(`${path.join(work, 'd.jsonl')} already exists; choose another --out, or pass --force to replace it.`);
    expect(again.stderr).not.toMatch(/^\s+at /m);
    expect(readFileSync(path.join(work, 'd.card.md'), 'utf8')).toBe(cardBefore);

    const forced = await confab('dataset', 'export', '--out', path.join(work, 'd.jsonl'), '--force');
    expect(forced.code).toBe(0);
    expect(readdirSync(work).sort()).toEqual(['README.md', 'd.card.md', 'd.jsonl', 'e.card.md', 'e.parquet']);

    const readme = await confab('dataset', 'export', '--out', path.join(work, 'README.md'), '--force');
    expect(readme.code).toBe(1);
    expect(readme.stderr).toContain('is the name of a project README');
    expect(readFileSync(path.join(work, 'README.md'), 'utf8')).toBe('# My project\n');
  }, 120_000);

  it('refuses an empty --out', async () => {
    const run = await confab('dataset', 'export', '--out', '');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--out must name a file; got an empty path.');
  });

  it('names the default export by the second, so two exports in a row both succeed', async () => {
    const exports = path.join(database.target.kind === 'pglite' ? path.dirname(database.target.dir) : '', 'exports');
    const a = await confab('dataset', 'export');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const b = await confab('dataset', 'export');
    expect([a.code, b.code]).toEqual([0, 0]);
    const files = readdirSync(exports).sort();
    expect(files.filter((f) => f.endsWith('.jsonl'))).toHaveLength(2);
    expect(files.filter((f) => f.endsWith('.card.md'))).toHaveLength(2);
  }, 120_000);
});
