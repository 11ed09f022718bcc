import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { agreementCommand } from '../../src/cli/agreement';
import { parseCsv } from '../../src/core/labels/csv';
import { EXIT_BAD_INPUT, runAgreement } from '../../src/core/labels/agreement-cli';

const dir = mkdtempSync(path.join(tmpdir(), 'confab-agreement-'));
const write = (name: string, text: string) => {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
};

describe('RFC 4180 CSV parsing', () => {
  it('handles quotes, escaped quotes, embedded commas and line breaks, CRLF and a BOM', () => {
    const text = '\ufeffa,b,c\r\n"x, y","say ""hi""","two\nlines"\r\n\r\nplain,,last\n';
    const records = [...parseCsv(text)];
    expect(records.map((r) => r.fields)).toEqual([
      ['a', 'b', 'c'],
      ['x, y', 'say "hi"', 'two\nlines'],
      ['plain', '', 'last'],
    ]);
    // The third record starts on line 5: line 3 holds the embedded break, line 4 is blank.
    expect(records.map((r) => r.line)).toEqual([1, 2, 5]);
  });

  it('reports an unclosed quote and a stray quote with their line', () => {
    expect(() => [...parseCsv('a,b\n1,"open\n')]).toThrow('Line 2: a quoted field is not closed');
    expect(() => [...parseCsv('a,b\n1,x"y\n')]).toThrow(/Line 2: a quote \("\) inside an unquoted field/);
  });
});

describe('runAgreement (confab agreement --csv)', () => {
  // Krippendorff (2011) nominal example (alpha = 0.743), as long-format votes with an extra
  // column and shuffled column order, to show the columns are found by name.
  const observers: Array<Array<number | null>> = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, null, null, null],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, null, 3],
    [null, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, null],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, null],
  ];
  const rows = ['note,Label,reviewer,item'];
  observers.forEach((row, o) =>
    row.forEach((value, u) => {
      if (value !== null) rows.push(`"free text, ignored",v${value},obs${o},unit${u + 1}`);
    }),
  );

  it('prints alpha, kappa n/a, a Dawid–Skene summary and reviewer reliability, and writes labels', async () => {
    const csv = write('votes.csv', rows.join('\n') + '\n');
    const out = path.join(dir, 'labels.csv');
    const run = await runAgreement({ csvPath: csv, outPath: out });
    expect(run.exitCode).toBe(0);
    expect(run.text).toContain("Krippendorff's alpha (nominal): 0.743 over 11 items");
    expect(run.text).toContain("Fleiss' kappa: n/a (items have unequal rater counts (1 to 4))");
    expect(run.text).toMatch(/Dawid–Skene: converged after \d+ iterations/);
    expect(run.text).toMatch(/^ {2}v3: \d+ items/m);
    for (const o of [0, 1, 2, 3]) expect(run.text).toMatch(new RegExp(`^  obs${o} +\\d+  0\\.\\d{3}$`, 'm'));
    const labels = readFileSync(out, 'utf8').trim().split('\n');
    expect(labels[0]).toBe('item,majority,ds_label,ds_posterior,n_votes');
    expect(labels).toHaveLength(13);
    const unit3 = labels.find((l) => l.startsWith('unit3,'))!.split(',');
    expect(unit3[1]).toBe('v3');
    expect(unit3[2]).toBe('v3');
    expect(Number(unit3[3])).toBeGreaterThan(0.9);
    expect(unit3[4]).toBe('4');
    // Unit 6 (1, 2, 3, 4) has no majority.
    expect(labels.find((l) => l.startsWith('unit6,'))!.split(',')[1]).toBe('');
  });

  it('reports Fleiss kappa when every item has the same number of decisive votes; unsure is not a label', async () => {
    const csv = write(
      'equal.csv',
      [
        'item,reviewer,label',
        'e1,ann,faithful',
        'e1,bob,faithful',
        'e1,cy,unsure',
        'e2,ann,confabulated',
        'e2,bob,confabulated',
        'e3,ann,faithful',
        'e3,bob,confabulated',
        'e3,bob,faithful',
      ].join('\n'),
    );
    const run = await runAgreement({ csvPath: csv });
    expect(run.exitCode).toBe(0);
    expect(run.text).toContain('(8 rows; 1 unsure, 1 replaced by a later vote)');
    expect(run.text).toMatch(/Fleiss' kappa: 1\.000 \(3 items × 2 ratings\)/);
    expect(run.text).toContain('Labels: faithful, confabulated (case and spacing ignored; --case-sensitive keeps them apart).');
  });

  it('names missing columns and what is required', async () => {
    const run = await runAgreement({ csvPath: write('cols.csv', 'item,user,vote\n1,a,x\n') });
    expect(run.exitCode).toBe(EXIT_BAD_INPUT);
    expect(run.text).toContain('has no column "reviewer", "label"');
    expect(run.text).toContain('must name the columns item, reviewer and label');
    expect(run.text).toContain('found: "item", "user", "vote"');
  });

  it('lists bad rows with their line numbers', async () => {
    const run = await runAgreement({ csvPath: write('bad.csv', 'item,reviewer,label\n1,a,x\n2,b\n3,,y\n4,c,z\n') });
    expect(run.exitCode).toBe(EXIT_BAD_INPUT);
    expect(run.text).toContain('has 2 bad rows');
    expect(run.text).toContain('Line 3: expected 3 fields like the header, found 2.');
    expect(run.text).toContain('Line 4: empty reviewer.');
  });

  it('says so when the file is missing or has only abstentions', async () => {
    const missing = await runAgreement({ csvPath: path.join(dir, 'nope.csv') });
    expect(missing).toEqual({ text: `Cannot read ${path.join(dir, 'nope.csv')}: no such file.`, exitCode: EXIT_BAD_INPUT });
    const unsure = await runAgreement({ csvPath: write('unsure.csv', 'item,reviewer,label\n1,a,unsure\n') });
    expect(unsure.exitCode).toBe(EXIT_BAD_INPUT);
    expect(unsure.text).toContain('no decisive votes');
  });

  it('normalises case and spacing of labels by default, and keeps them apart with caseSensitive', async () => {
    // Three reviewers agree on every item, spelling the labels their own way.
    const spelled = ['item,reviewer,label'];
    for (let i = 1; i <= 4; i++) {
      const label = i % 2 ? 'faithful' : 'confabulated';
      spelled.push(`${i},a,${label}`, `${i},b,"${label[0].toUpperCase()}${label.slice(1)} "`, `${i},c,  ${label.toUpperCase()}`);
    }
    spelled.push('5,a,Unsure', '5,b,faithful', '5,c,faithful');
    const csv = write('spelled.csv', spelled.join('\n') + '\n');
    const out = path.join(dir, 'spelled-labels.csv');
    const run = await runAgreement({ csvPath: csv, outPath: out });
    expect(run.exitCode).toBe(0);
    expect(run.text).toContain('Labels: faithful, confabulated (case and spacing ignored; 4 other spellings merged; --case-sensitive keeps them apart).');
    expect(run.text).toContain('(15 rows; 1 unsure, 0 replaced by a later vote)');
    expect(run.text).toContain("Krippendorff's alpha (nominal): 1.000");
    expect(readFileSync(out, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').slice(0, 3).join(','))).toEqual([
      '1,faithful,faithful',
      '2,confabulated,confabulated',
      '3,faithful,faithful',
      '4,confabulated,confabulated',
      '5,faithful,faithful',
    ]);

    const exact = await runAgreement({ csvPath: csv, caseSensitive: true });
    expect(exact.exitCode).toBe(0);
    expect(exact.text).toContain('(exactly as written: case and spacing count)');
    expect(exact.text).toContain('  CONFABULATED');
    expect(exact.text).toContain('Faithful ');
    // 'Unsure' is a label of its own when case counts, so no vote is an abstention.
    expect(exact.text).toContain('(15 rows; 0 unsure, 0 replaced by a later vote)');
    expect(exact.text).not.toContain("Krippendorff's alpha (nominal): 1.000");
  });

  it('still refuses a label that is only spaces', async () => {
    const run = await runAgreement({ csvPath: write('blank-label.csv', 'item,reviewer,label\n1,a,"   "\n') });
    expect(run.exitCode).toBe(EXIT_BAD_INPUT);
    expect(run.text).toContain('Line 2: empty label.');
  });

  it('maps --case-sensitive on the command line', async () => {
    const csv = write('flag.csv', 'item,reviewer,label\n1,a,Faithful\n1,b,faithful\n');
    const run = async (values: Record<string, string | boolean>) => {
      let stdout = '';
      const io = { stdin: Readable.from([]), stdout: new Writable({ write: (c, _e, done) => ((stdout += String(c)), done()) }), stderr: new Writable({ write: (_c, _e, done) => done() }), env: {} };
      const code = await agreementCommand.run({ values, positionals: [] }, io);
      return { code, stdout };
    };
    expect((await run({ csv })).stdout).toContain('Labels: faithful (case and spacing ignored; 1 other spelling merged;');
    expect((await run({ csv, 'case-sensitive': true })).stdout).toContain('Labels: Faithful, faithful (exactly as written');
  });
});
