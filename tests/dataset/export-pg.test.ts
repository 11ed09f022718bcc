import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { openDatabase, queryRows, schema, type Database, type Db } from '../../db';
import { exportDataset } from '../../src/core/dataset/export';
import { readParquetWithArrowRs } from './arrow-ffi';
import { PEOPLE, seedReviewHistory, type Seeded } from './seed';

const url = process.env.CONFAB_TEST_PG_URL;

describe.skipIf(!url)('dataset export on PostgreSQL (CONFAB_TEST_PG_URL)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'confab-dataset-pg-'));
  let database: Database;
  let seeded: Seeded;
  // The server may be shared: this run's rows get unique platform ids and the export is scoped
  // to this run's workspace.
  const suffix = `-${process.pid}-${Date.now()}`;

  beforeAll(async () => {
    database = await openDatabase({ kind: 'postgres', url: url! });
    seeded = await seedReviewHistory(database.db, `pg${suffix}`, suffix);
  });
  afterAll(async () => {
    await database?.close();
  });

  it('exports the same rows as JSONL and Parquet, without decoys or identities', async () => {
    const jsonl = await exportDataset(database.db, { format: 'jsonl', out: path.join(dir, 'j', 'd.jsonl'), workspaceId: seeded.workspaceId, includeActivations: true });
    const parquet = await exportDataset(database.db, { format: 'parquet', out: path.join(dir, 'p', 'd.parquet'), workspaceId: seeded.workspaceId, includeActivations: true });
    const rows = readFileSync(jsonl.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((r) => r.explanation_id)).toEqual(seeded.explanationIds);
    expect(rows[1]).toMatchObject({ votes: ['confabulated', 'confabulated', 'confabulated', 'unsure'], majority_label: 'confabulated', unsure_votes: 1 });
    const viaHyparquet = await parquetReadObjects({ file: await asyncBufferFromFile(parquet.path) });
    const viaArrow = readParquetWithArrowRs(parquet.path).rows;
    for (const reader of [viaHyparquet, viaArrow]) {
      expect(reader.map((r) => r.explanation_id)).toEqual(seeded.explanationIds);
      expect(reader.map((r) => r.activation)).toEqual(rows.map((r) => r.activation));
      expect(reader.map((r) => r.reviewer_ids)).toEqual(rows.map((r) => r.reviewer_ids));
    }
    for (const file of [jsonl.path, parquet.path, jsonl.cardPath]) {
      const bytes = readFileSync(file);
      for (const p of PEOPLE) {
        expect(bytes.includes(Buffer.from(p.userId))).toBe(false);
        expect(bytes.includes(Buffer.from(p.name))).toBe(false);
      }
      expect(bytes.includes(Buffer.from('DECOY'))).toBe(false);
    }
  });

  it('reads one snapshot: votes and new reviewers arriving during the export are in neither its labels nor its rows', async () => {
    const out = (name: string) => path.join(dir, 'snapshot', name);
    const before = await exportDataset(database.db, { format: 'jsonl', out: out('before.jsonl'), workspaceId: seeded.workspaceId });
    const rowsBefore = readFileSync(before.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

    // Another bot process votes while the export runs: right after the export reads its first
    // page of explanations, a reviewer it has never seen votes confabulated on every item.
    const writer = new pg.Pool({ connectionString: url, max: 1 });
    let interfered = 0;
    const interfere = async () => {
      interfered++;
      const client = await writer.connect();
      try {
        await client.query('begin');
        const { rows } = await client.query(
          `insert into reviewers (platform, user_id, display_name, pseudonym) values ('discord', $1, 'Late Voter', $2) returning id`,
          [`late${suffix}`, `late${suffix}`.padEnd(24, '0').slice(0, 24)],
        );
        await client.query(
          `insert into votes (explanation_id, reviewer_id, label)
           select id, $1, 'confabulated' from explanations where workspace_id = $2 and source = 'nla'`,
          [rows[0].id, seeded.workspaceId],
        );
        await client.query(
          `update explanations set confabulated_votes = confabulated_votes + 1, decisive_votes = decisive_votes + 1 where workspace_id = $1 and source = 'nla'`,
          [seeded.workspaceId],
        );
        await client.query('commit');
      } finally {
        client.release();
      }
    };
    const afterFirstPage = (text: string) => interfered === 0 && text.includes('json_build_array(e.id');
    const wrap = (target: pg.PoolClient): void => {
      const query = target.query.bind(target) as (...args: unknown[]) => Promise<unknown>;
      (target as { query: unknown }).query = async (...args: unknown[]) => {
        const result = await query(...args);
        const text = typeof args[0] === 'string' ? args[0] : String((args[0] as { text?: string }).text ?? '');
        if (afterFirstPage(text)) await interfere();
        return result;
      };
    };
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    pool.on('connect', (client) => wrap(client));
    const exporting = drizzle({ client: pool, schema }) as unknown as Db;
    try {
      const during = await exportDataset(exporting, { format: 'jsonl', out: out('during.jsonl'), workspaceId: seeded.workspaceId, chunkRows: 3 });
      expect(interfered).toBe(1);
      const rowsDuring = readFileSync(during.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      // Exactly the export before the votes arrived: labels and votes of one moment.
      expect(rowsDuring).toEqual(rowsBefore);
      for (const r of rowsDuring) {
        const decisive = (r.votes as string[]).filter((v) => v !== 'unsure').length;
        expect(r.decisive_votes, `row ${r.explanation_id}`).toBe(decisive);
      }
      expect(during.votes).toBe(before.votes);
    } finally {
      await pool.end();
      await writer.end();
    }
    // The next export sees the new votes, each with its reviewer.
    const after = await exportDataset(database.db, { format: 'jsonl', out: out('after.jsonl'), workspaceId: seeded.workspaceId });
    expect(after.votes).toBe(before.votes + seeded.explanationIds.length);
    const [{ n }] = await queryRows<{ n: number }>(database.db, sql`select count(*)::int as n from reviewers where user_id = ${`late${suffix}`}`);
    expect(n).toBe(1);
  });
});
