/**
 * The README's examples of the close rule ("With N = 3, 3–0 … close; 2–1 … stay open") agree
 * with the posterior the vote transaction computes: `confab_lead_posterior` in the migrated
 * database, against the threshold `castVote` passes it. The README session test shows 2–1 open
 * and 3–1 closing end to end; this covers the other splits the README names.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, queryRows, type Database } from '../../db';
import { POSTERIOR_THRESHOLD } from '../../src/core/votes';
import { createTestDatabase, type TestDatabase } from '../db/support';

/** The README with its line breaks as spaces, so that rewrapping a paragraph changes nothing here. */
const README = readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8').replace(/\s+/g, ' ');

let test: TestDatabase;
let database: Database;
beforeAll(async () => {
  test = await createTestDatabase('pglite');
  database = await openDatabase(test.target);
});
afterAll(async () => {
  await database?.close();
  await test?.drop();
});

async function posterior(lead: number, trail: number): Promise<number> {
  const [row] = await queryRows<{ p: number }>(database.db, sql`select confab_lead_posterior(${lead}::int, ${trail}::int) as p`);
  return Number(row.p);
}

/** Whether an item with these decisive votes is closed, by the rule the README states. */
async function closes(lead: number, trail: number, votesToClose: number): Promise<boolean> {
  const threshold = Math.min(POSTERIOR_THRESHOLD, await posterior(votesToClose, 0));
  if (lead + trail < votesToClose) return false;
  if (lead !== trail && (await posterior(lead, trail)) >= threshold) return true;
  return lead + trail >= 2 * votesToClose + 1;
}

const splits = (text: string) => [...text.matchAll(/(\d+)–(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])] as const);

describe('the README close rule', () => {
  it('names the threshold and the cap the code uses', () => {
    expect(README).toContain(`is at least ${POSTERIOR_THRESHOLD}`);
    expect(README).toContain('closes anyway at 2N+1 decisive votes (7 by default)');
  });

  it('closes and keeps open the splits it names, for N = 3', async () => {
    const sentence = /With N = 3, ([^;]+) close; ([^.]+) stay open\./.exec(README);
    expect(sentence, 'the README sentence "With N = 3, … close; … stay open."').not.toBeNull();
    const [closing, open] = [splits(sentence![1]), splits(sentence![2])];
    expect(closing.length).toBeGreaterThan(2);
    expect(open.length).toBeGreaterThan(2);
    for (const [lead, trail] of closing) expect(await closes(lead, trail, 3), `${lead}–${trail}`).toBe(true);
    for (const [lead, trail] of open) expect(await closes(lead, trail, 3), `${lead}–${trail}`).toBe(false);
    // The cap: 4–3 is not clear, and closes only because it is the seventh decisive vote.
    expect(await posterior(4, 3)).toBeLessThan(POSTERIOR_THRESHOLD);
    expect(await closes(4, 3, 3)).toBe(true);
  });

  it('lets a single vote close when N = 1, as the README says', async () => {
    expect(README).toContain('With N = 1 a single vote closes.');
    expect(await closes(1, 0, 1)).toBe(true);
  });
});
