import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { openDatabase, type Database } from '../../db';
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
});
