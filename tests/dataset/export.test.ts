import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet';
import { eq } from 'drizzle-orm';
import { openDatabase, type Database } from '../../db';
import { analyses, explanations, positions, saeFeatures, votes } from '../../db/schema';
import { exportDataset, type ExportSummary } from '../../src/core/dataset/export';
import { splitOf } from '../../src/core/dataset/split';
import { COLUMNS } from '../../src/core/dataset/columns';
import { featuresOfPositions, inIndexOrder, votesOfExplanationRange, type VotesOfRange } from '../../src/core/dataset/queries';
import { loadLabelStatsLines } from '../../src/core/labels/stats-extra';
import { readParquetWithArrowRs } from './arrow-ffi';
import { CLAIMED_TEXT, GUILD, GUILD_NAME, PEOPLE, REMARKS, seedReviewHistory, type Seeded } from './seed';

const dir = mkdtempSync(path.join(tmpdir(), 'confab-dataset-'));
let database: Database;
let seeded: Seeded;

beforeAll(async () => {
  database = await openDatabase({ kind: 'pglite', dir: path.join(dir, 'pglite') });
  seeded = await seedReviewHistory(database.db);
});
afterAll(async () => {
  await database?.close();
});

type Row = Record<string, unknown>;
const readJsonl = (file: string): Row[] =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));

describe('dataset export (PGlite)', () => {
  let jsonl: ExportSummary;
  let parquet: ExportSummary;
  let rows: Row[];

  beforeAll(async () => {
    jsonl = await exportDataset(database.db, { format: 'jsonl', out: path.join(dir, 'jsonl', 'dataset.jsonl'), includeActivations: true });
    parquet = await exportDataset(database.db, {
      format: 'parquet',
      out: path.join(dir, 'parquet', 'dataset.parquet'),
      includeActivations: true,
      // Small chunks and row groups so the test crosses page and row-group boundaries.
      chunkRows: 3,
      rowGroupRows: 4,
    });
    rows = readJsonl(jsonl.path);
  });

  it('writes one JSONL row per real explanation with every field, and round-trips', () => {
    expect(jsonl.rows).toBe(10);
    expect(rows.map((r) => r.explanation_id)).toEqual(seeded.explanationIds);
    for (const r of rows) expect(Object.keys(r)).toEqual([...COLUMNS.map((c) => c.name), 'activation']);
    const first = rows[0];
    expect(first).toMatchObject({
      model: 'confab-reference-v1',
      layer: 2,
      prompt: 'El que madruga, Dios le ayuda.',
      token: ' tok0',
      position: 3,
      sae_feature_indices: [100, 200, 300],
      sae_feature_activations: [4.5, 2.25, 0.5],
      sae_feature_labels: ['Spanish proverbs', 'dictionary entries', 'punctuation, "quotes" and commas'],
      sae_l0: 16,
      explanation: 'Explanation 0.0: a Spanish proverb, "quoted", with a comma.',
      source: 'nla',
      ar_fve_nrm: 0.7,
      signal_feature_overlap: 0.25,
      signal_judge: null,
      votes: ['faithful', 'faithful', 'confabulated'],
      reviewer_ids: [seeded.pseudonyms[0], seeded.pseudonyms[1], seeded.pseudonyms[2]],
      majority_label: 'faithful',
      decisive_votes: 3,
      unsure_votes: 0,
      split: splitOf('El que madruga, Dios le ayuda.'),
    });
    expect(first.item_agreement).toBeCloseTo(2 / 3, 12);
    expect((first.vote_timestamps as string[])[0]).toBe('2026-11-20T09:01:00.000Z');
    expect(Array.from(new Float32Array(first.activation as number[]))).toEqual(Array.from(seeded.activationOf.get(seeded.explanationIds[0])!));
    // A tie is undecided for the majority; an unvoted explanation has empty lists.
    expect(rows[2]).toMatchObject({ majority_label: null, decisive_votes: 2 });
    expect(rows[3]).toMatchObject({ votes: ['unsure'], unsure_votes: 1, decisive_votes: 0, majority_label: null, ds_label: null, ds_posterior: null });
    expect(rows[9]).toMatchObject({ votes: [], reviewer_ids: [], vote_timestamps: [], decisive_votes: 0, item_agreement: null });
    // Dawid–Skene labels are probabilities that agree with a unanimous crowd.
    expect(rows[4]).toMatchObject({ majority_label: 'faithful', ds_label: 'faithful' });
    expect(rows[4].ds_posterior as number).toBeGreaterThan(0.5);
    expect((rows[1].ds_p_confabulated as number) + 0).toBeGreaterThan(0.5);
  });

  it("carries each vote's note and marked claims, the explanation's claims, and how many reviewers marked each wrong", () => {
    const claimed = rows[1];
    expect(claimed.explanation).toBe(CLAIMED_TEXT);
    expect(claimed).toMatchObject({
      votes: ['confabulated', 'confabulated', 'confabulated', 'unsure'],
      reviewer_ids: [seeded.pseudonyms[0], seeded.pseudonyms[1], seeded.pseudonyms[2], seeded.pseudonyms[3]],
      vote_notes: [REMARKS[0].note, null, null, REMARKS[3].note],
      vote_marked_claims: [[2], [2, 3], [], []],
      claims: ['A Spanish proverb.', 'It names a saint;', 'it praises early rising.'],
      claim_wrong_counts: [0, 2, 1],
    });
    // Rows without remarks have aligned empty values, and a row without votes empty lists.
    expect(rows[0]).toMatchObject({ vote_notes: [null, null, null], vote_marked_claims: [[], [], []], claims: [rows[0].explanation], claim_wrong_counts: [0] });
    expect(rows[9]).toMatchObject({ vote_notes: [], vote_marked_claims: [], claim_wrong_counts: [0] });
    for (const r of rows) {
      const n = (r.votes as string[]).length;
      expect([(r.reviewer_ids as string[]).length, (r.vote_notes as unknown[]).length, (r.vote_marked_claims as unknown[]).length]).toEqual([n, n, n]);
      expect((r.claim_wrong_counts as number[]).length).toBe((r.claims as string[]).length);
    }
    expect(jsonl).toMatchObject({ votesWithNote: 2, votesWithMarkedClaims: 2 });
    const card = readFileSync(jsonl.cardPath, 'utf8');
    expect(card).toContain('## Notes and marked claims');
    expect(card).toContain('2 with a note, 2 with marked claims');
    expect(card).toContain('| `vote_notes` | list<string?> |');
    expect(card).toContain('| `vote_marked_claims` | list<list<int32>> |');
    expect(card).toContain('| `claim_wrong_counts` | list<int32> |');
  });

  it('writes Parquet timestamps as the TIMESTAMP logical type, adjusted to UTC, and readers see UTC', async () => {
    const metadata = await parquetMetadataAsync(await asyncBufferFromFile(parquet.path));
    const schema = parquetSchema(metadata);
    const createdAt = schema.children.find((c) => c.element.name === 'created_at')!.element;
    const voteTime = schema.children.find((c) => c.element.name === 'vote_timestamps')!.children[0].children[0].element;
    for (const element of [createdAt, voteTime]) {
      expect(element.type).toBe('INT64');
      expect(element.logical_type).toEqual({ type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' });
    }
    // arrow-rs (as DuckDB and pyarrow do) reads them as timestamps in UTC.
    const viaArrow = readParquetWithArrowRs(parquet.path);
    expect(viaArrow.formats.created_at).toBe('tsm:UTC');
    expect(viaArrow.listItemFormats.vote_timestamps).toBe('tsm:UTC');
  });

  it('names the card after the data file, and never replaces an existing file without overwrite', async () => {
    const own = path.join(dir, 'own');
    mkdirSync(own, { recursive: true });
    // The folder is a project's: its README.md is not the export's to write.
    writeFileSync(path.join(own, 'README.md'), 'The project README\n');
    const first = await exportDataset(database.db, { format: 'jsonl', out: path.join(own, 'd.jsonl') });
    const second = await exportDataset(database.db, { format: 'parquet', out: path.join(own, 'd2.parquet') });
    expect([first.cardPath, second.cardPath]).toEqual([path.join(own, 'd.card.md'), path.join(own, 'd2.card.md')]);
    expect(readFileSync(path.join(own, 'README.md'), 'utf8')).toBe('The project README\n');
    expect(readFileSync(first.cardPath, 'utf8')).toContain('data_files: d.jsonl');
    expect(readFileSync(second.cardPath, 'utf8')).toContain('data_files: d2.parquet');

    const before = readFileSync(first.path);
    const cardBefore = readFileSync(first.cardPath);
    await expect(exportDataset(database.db, { format: 'jsonl', out: first.path })).rejects.toThrow(`${first.path} already exists; choose another --out, or pass --force to replace it.`);
    // A card left alone (its data file moved away) is not replaced either.
    renameSync(first.path, `${first.path}.moved`);
    await expect(exportDataset(database.db, { format: 'jsonl', out: first.path })).rejects.toThrow(`${first.cardPath} already exists`);
    expect(existsSync(first.path)).toBe(false);
    expect(existsSync(`${first.path}.partial`)).toBe(false);
    expect(readFileSync(first.cardPath)).toEqual(cardBefore);
    renameSync(`${first.path}.moved`, first.path);
    expect(readFileSync(first.path)).toEqual(before);

    const replaced = await exportDataset(database.db, { format: 'jsonl', out: first.path, overwrite: true, now: new Date('2027-01-01T00:00:00Z') });
    expect(readFileSync(replaced.cardPath, 'utf8')).toContain('Exported 2027-01-01T00:00:00.000Z');
    expect(readdirSync(own).sort()).toEqual(['README.md', 'd.card.md', 'd.jsonl', 'd2.card.md', 'd2.parquet']);
    await expect(exportDataset(database.db, { format: 'jsonl', out: path.join(own, 'README.md') })).rejects.toThrow('is the name of a project README');
  });

  it('leaves decoys out of the rows and out of every label', () => {
    const ids = rows.map((r) => r.explanation_id);
    expect(ids).not.toContain(seeded.decoyId);
    for (const r of rows) expect(r.explanation).not.toContain('DECOY');
    // The explanation whose text the decoy showed keeps exactly its own three votes.
    const source = rows.find((r) => r.explanation_id === seeded.decoySourceId)!;
    expect(source.votes).toEqual(['faithful', 'faithful', 'faithful']);
    expect(source.decisive_votes).toBe(3);
    // Four decoy votes exist, none of them in any row.
    const total = rows.reduce((n, r) => n + (r.votes as string[]).length, 0);
    expect(total).toBe(22);
    expect(jsonl.votes).toBe(22);
    // They measured the crowd instead: 1 of 4 decisive decoy votes caught it.
    expect(jsonl.labels.decoyCatchRate).toMatchObject({ rate: 0.25, n: 4 });
  });

  it('reads the same Parquet rows back with hyparquet and with parquet-wasm (arrow-rs), including list<float>', async () => {
    const file = await asyncBufferFromFile(parquet.path);
    const metadata = await parquetMetadataAsync(file);
    expect(Number(metadata.num_rows)).toBe(10);
    expect(metadata.row_groups.length).toBe(3);
    const schema = parquetSchema(metadata);
    const activation = schema.children.find((c) => c.element.name === 'activation')!;
    expect(activation.element.converted_type).toBe('LIST');
    expect(activation.children[0].children[0].element.type).toBe('FLOAT');

    const viaHyparquet = (await parquetReadObjects({ file })) as Row[];
    const viaArrow = readParquetWithArrowRs(parquet.path);
    expect(viaArrow.formats).toMatchObject({ explanation_id: 'i', prompt: 'u', ar_fve_nrm: 'g', votes: '+l', activation: '+l', explanation_parsed: 'b' });
    expect(viaArrow.listItemFormats).toMatchObject({ activation: 'f', sae_feature_indices: 'i', sae_feature_activations: 'g', reviewer_ids: 'u' });
    expect(viaArrow.formats.created_at.startsWith('tsm')).toBe(true);
    expect(viaHyparquet).toHaveLength(10);
    expect(viaArrow.rows).toHaveLength(10);

    for (let i = 0; i < 10; i++) {
      const expected = rows[i];
      for (const reader of [viaHyparquet[i], viaArrow.rows[i]]) {
        for (const c of COLUMNS) {
          if (c.type === 'timestamp') continue;
          expect(reader[c.name], `${c.name} of row ${i}`).toEqual(expected[c.name]);
        }
        expect(reader.activation).toEqual(expected.activation);
      }
      // Timestamps: hyparquet gives Dates, arrow-rs gives epoch milliseconds.
      expect((viaHyparquet[i].created_at as Date).toISOString()).toBe(expected.created_at);
      expect(Number(viaArrow.rows[i].created_at)).toBe(Date.parse(expected.created_at as string));
      expect((viaHyparquet[i].vote_timestamps as Date[]).map((d) => d.toISOString())).toEqual(expected.vote_timestamps);
      expect((viaArrow.rows[i].vote_timestamps as bigint[]).map(Number)).toEqual((expected.vote_timestamps as string[]).map((t) => Date.parse(t)));
    }
  });

  it('exports no reviewer identity: only pseudonyms, in data and card', () => {
    for (const file of [jsonl.path, parquet.path, jsonl.cardPath, parquet.cardPath]) {
      const bytes = readFileSync(file);
      for (const p of PEOPLE) {
        expect(bytes.includes(Buffer.from(p.userId)), `${p.userId} in ${file}`).toBe(false);
        expect(bytes.includes(Buffer.from(p.name)), `${p.name} in ${file}`).toBe(false);
        expect(bytes.includes(Buffer.from(p.name.split(' ')[0])), `${p.name} in ${file}`).toBe(false);
      }
      expect(bytes.includes(Buffer.from(GUILD))).toBe(false);
      expect(bytes.includes(Buffer.from(GUILD_NAME))).toBe(false);
    }
    const ids = new Set(rows.flatMap((r) => r.reviewer_ids as string[]));
    expect([...ids].sort()).toEqual([...seeded.pseudonyms].sort());
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{24}$/);
  });

  it('writes a dataset card with counts, labels, agreement, splits and fields', () => {
    const card = readFileSync(jsonl.cardPath, 'utf8');
    expect(path.dirname(jsonl.cardPath)).toBe(path.dirname(jsonl.path));
    expect(card).toContain('- Rows (explanations): 10');
    expect(card).toContain('| confab-reference-v1 | 2 | 10 |');
    expect(card).toMatch(/Krippendorff's alpha \(nominal, missing data allowed\): -?\d\.\d{3} over 6 items/);
    expect(card).toContain("Fleiss' kappa: not applicable (items have unequal rater counts");
    expect(card).toContain('- Reviewers: 4 voted on these rows');
    expect(card).toContain('**confabulated**');
    expect(card).toContain('| `activation` | list<float>, nullable |');
    expect(card).toContain(`| train | ${jsonl.splits.train} |`);
    expect(card).toContain('25.0% of 4 decisive decoy votes');
  });

  it('keeps splits stable across exports and equal for equal prompts', async () => {
    // New votes and explanations between exports must not move anybody's split.
    await database.db.insert(votes).values({ explanationId: seeded.explanationIds[9], reviewerId: seeded.reviewerIds[0], label: 'confabulated' });
    const again = await exportDataset(database.db, { format: 'jsonl', out: path.join(dir, 'again', 'dataset.jsonl') });
    const second = readJsonl(again.path);
    expect(second.map((r) => [r.explanation_id, r.split])).toEqual(rows.map((r) => [r.explanation_id, r.split]));
    const byPrompt = new Map<string, Set<unknown>>();
    for (const r of second) {
      const set = byPrompt.get(r.prompt as string) ?? new Set();
      set.add(r.split);
      byPrompt.set(r.prompt as string, set);
    }
    for (const splits of byPrompt.values()) expect(splits.size).toBe(1);
    expect(second[9]).toMatchObject({ votes: ['confabulated'], decisive_votes: 1 });
    expect(second[0]).not.toHaveProperty('activation');
    expect(again.splits.train + again.splits.validation + again.splits.test).toBe(10);
  });

  it('filters by minimum decisive votes and by date, and refuses bad options', async () => {
    const min3 = await exportDataset(database.db, { format: 'jsonl', out: path.join(dir, 'min3', 'd.jsonl'), minVotes: 3 });
    const kept = readJsonl(min3.path);
    expect(kept.every((r) => (r.decisive_votes as number) >= 3)).toBe(true);
    expect(kept.map((r) => r.explanation_id)).toEqual([0, 1, 4, 6, 7].map((i) => seeded.explanationIds[i]));
    expect(min3.belowMinVotes).toBe(5);

    await database.db.update(explanations).set({ createdAt: new Date('2020-01-01T00:00:00Z') }).where(eq(explanations.id, seeded.explanationIds[0]));
    const recent = await exportDataset(database.db, { format: 'parquet', out: path.join(dir, 'since', 'd.parquet'), since: new Date('2025-01-01') });
    expect(recent.rows).toBe(9);
    await expect(exportDataset(database.db, { format: 'csv' as 'jsonl', out: path.join(dir, 'x', 'd') })).rejects.toThrow('Format "csv" is not supported; use jsonl or parquet.');
    await expect(exportDataset(database.db, { format: 'jsonl', out: path.join(dir, 'x', 'd'), minVotes: -1 })).rejects.toThrow('--min-votes must be a whole number ≥ 0');
  });

  it('gives /stats its agreement, decoy and AUROC lines from the same database', async () => {
    const lines = Object.fromEntries((await loadLabelStatsLines(database.db, seeded.workspaceId)).map((l) => [l.label, l.value]));
    expect(lines['Decoys caught']).toMatch(/^25% of 4 votes \(95% CI \d+–\d+%\)$/);
    expect(lines["Fleiss' kappa"]).toMatch(/^n\/a/);
    expect(lines['AUROC, AR round trip (fve_nrm)']).toMatch(/^\d\.\d\d \(95% CI .*Hanley–McNeil\) over \d+ items with a majority label and this signal, open or closed: \d+ faithful vs \d+ confabulated$/);
    expect(lines['AUROC, LLM judge']).toBe('n/a (no labelled item has this signal)');
  });

  it('scopes to one workspace', async () => {
    const other = await exportDataset(database.db, { format: 'jsonl', out: path.join(dir, 'ws', 'd.jsonl'), workspaceId: seeded.workspaceId + 1000 });
    expect(other.rows).toBe(0);
    expect(readFileSync(other.path, 'utf8')).toBe('');
    // The seeded workspace is the only one, so its own export is the whole dataset.
    const own = await exportDataset(database.db, { format: 'jsonl', out: path.join(dir, 'ws', 'own.jsonl'), workspaceId: seeded.workspaceId });
    const all = await exportDataset(database.db, { format: 'jsonl', out: path.join(dir, 'ws', 'all.jsonl') });
    expect(own.rows).toBe(seeded.explanationIds.length);
    expect(readJsonl(own.path)).toEqual(readJsonl(all.path));
  });
});

describe('the label lookup by explanation id', () => {
  it('finds every item by id, dense or sparse, and answers -1 for any other id', async () => {
    const { itemIndex } = await import('../../src/core/dataset/labels');
    for (const keys of [
      [3, 1, 2, 7, 5],
      [10, 5_000_000, 42, 2 ** 31 - 1],
    ]) {
      const of = itemIndex(keys);
      keys.forEach((id, i) => expect(of(id)).toBe(i));
      for (const other of [0, 4, 6, 8, 11, 4_999_999, -1, 1.5, 2 ** 31]) expect(of(other)).toBe(-1);
    }
  });
});

describe('the export\'s reads put rows in order themselves', () => {
  // The queries leave ORDER BY out (the database's sort was a large share of their time), so the
  // order must not depend on how rows happen to be stored: here they are stored backwards.
  it('features by rank and votes by explanation then reviewer, whatever the storage order', async () => {
    class Rollback extends Error {}
    await database.db
      .transaction(async (tx) => {
        const [{ channelId }] = await tx.select({ channelId: analyses.channelId }).from(analyses).limit(1);
        const [analysis] = await tx
          .insert(analyses)
          .values({ workspaceId: seeded.workspaceId, channelId, requesterId: seeded.reviewerIds[0], prompt: 'order', model: 'm', layer: 1, dModel: 8, status: 'done' })
          .returning({ id: analyses.id });
        const [position] = await tx.insert(positions).values({ analysisId: analysis.id, position: 1, token: ' x', l0: 3, explainedVariance: 0.5, fveNrm: 0.5 }).returning({ id: positions.id });
        for (const rank of [3, 1, 2]) {
          await tx.insert(saeFeatures).values({ positionId: position.id, rank, featureIndex: rank * 10, activation: 4 - rank, label: `f${rank}` });
        }
        const features = await featuresOfPositions(tx, [position.id]);
        expect(features.get(position.id)).toEqual({ indices: [10, 20, 30], activations: [3, 2, 1], labels: ['f1', 'f2', 'f3'] });

        const ids: number[] = [];
        for (let sample = 0; sample < 2; sample++) {
          const [e] = await tx
            .insert(explanations)
            .values({ positionId: position.id, analysisId: analysis.id, workspaceId: seeded.workspaceId, sample, text: `t${sample}`, raw: 't', parsed: true })
            .returning({ id: explanations.id });
          ids.push(e.id);
        }
        const at = new Date(Date.UTC(2026, 10, 21));
        for (const [e, r] of [[1, 3], [0, 2], [1, 0], [0, 0], [1, 1]]) {
          await tx.insert(votes).values({ explanationId: ids[e], reviewerId: seeded.reviewerIds[r], label: 'faithful', createdAt: at, updatedAt: at });
        }
        const range = await votesOfExplanationRange(tx, ids[0], ids[1]);
        expect([...range.explanationId]).toEqual([ids[0], ids[0], ids[1], ids[1], ids[1]]);
        expect([...range.reviewerId]).toEqual([0, 2, 0, 1, 3].map((r) => seeded.reviewerIds[r]));
        expect([...range.votedAt]).toEqual(Array(5).fill(at.getTime()));
        throw new Rollback();
      })
      .catch((e: unknown) => {
        if (!(e instanceof Rollback)) throw e;
      });
  });

  it('orders votes the same way over dense and over sparse explanation ids', () => {
    const votesOf = (pairs: Array<[number, number]>): VotesOfRange => ({
      count: pairs.length,
      explanationId: Int32Array.from(pairs.map((p) => p[0])),
      reviewerId: Int32Array.from(pairs.map((p) => p[1])),
      label: Uint8Array.from(pairs.map((_, i) => i % 3)),
      votedAt: Float64Array.from(pairs.map((_, i) => 1000 + i)),
      remarks: new Map(),
    });
    const pairs: Array<[number, number]> = [[7, 2], [5, 9], [7, 1], [5, 3], [6, 4], [7, 0]];
    const expected = [[5, 3], [5, 9], [6, 4], [7, 0], [7, 1], [7, 2]];
    // Dense: a counting sort over ids 5..7. Sparse: the same votes spread over ids 5..7e6.
    for (const scale of [1, 1_000_000]) {
      const scaled = pairs.map(([e, r]) => [e * scale, r] as [number, number]);
      const sorted = inIndexOrder(votesOf(scaled), 5 * scale, 7 * scale);
      expect([...sorted.explanationId].map((e, i) => [e / scale, sorted.reviewerId[i]])).toEqual(expected);
      // Each vote keeps its own label and time.
      for (let k = 0; k < sorted.count; k++) {
        const from = scaled.findIndex(([e, r]) => e === sorted.explanationId[k] && r === sorted.reviewerId[k]);
        expect([sorted.label[k], sorted.votedAt[k]]).toEqual([from % 3, 1000 + from]);
      }
    }
    expect(inIndexOrder(votesOf([]), 1, 0).count).toBe(0);
  });
});
