/**
 * `confab agreement --csv PATH [--out LABELS.csv]`: agreement and aggregated labels for any
 * team's votes, not only Confab's. The CLI layer only parses its flags and prints `text`.
 *
 * Input: a CSV with a header naming (in any order, any case) the columns `item`, `reviewer`
 * and `label`; other columns are ignored; any label strings are allowed; `unsure` votes are
 * recorded as abstentions and are not labels. When one reviewer labelled one item twice, the
 * later row wins (that is how Confab treats a changed vote).
 *
 * Labels are compared without case and spacing (`Faithful ` is `faithful`), as /vote accepts
 * either; `caseSensitive` keeps every spelling a label of its own.
 *
 * Output rows (`--out`): `item,majority,ds_label,ds_posterior,n_votes`, where `majority` and
 * `ds_label` are empty when undecided, `ds_posterior` is the posterior of `ds_label`, and
 * `n_votes` counts the item's decisive votes (abstentions excluded).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { CsvError, csvField, parseCsv } from './csv';
import { VoteTableBuilder, type VoteTable } from './vote-table';
import { majorityVote, UNDECIDED } from './majority';
import { dawidSkene } from './dawid-skene';
import { fleissKappa, krippendorffAlpha } from './agreement';

export const REQUIRED_COLUMNS = ['item', 'reviewer', 'label'] as const;
/** Exit code for input the user must fix (bad file, bad columns, bad rows): a problem to fix, not a usage mistake (2). */
export const EXIT_BAD_INPUT = 1;
/** At most this many row errors are listed; the rest are counted. */
const MAX_LISTED_ERRORS = 10;

export interface AgreementOptions {
  csvPath: string;
  outPath?: string;
  /** Keep labels exactly as written: `Faithful` and `faithful` are then two labels. */
  caseSensitive?: boolean;
}

/** A label as compared by default: Unicode NFC, trimmed, inner spacing one space, lower case. */
export function normalizeLabel(label: string): string {
  return label.normalize('NFC').trim().replace(/\s+/g, ' ').toLowerCase();
}

export interface AgreementRun {
  text: string;
  exitCode: number;
}

interface ParsedVotes {
  table: VoteTable;
  rows: number;
  abstentions: number;
  replaced: number;
  /** Distinct spellings that normalising merged into another (0 when case-sensitive). */
  mergedSpellings: number;
}

/** Reads and validates the CSV; throws an Error whose message is ready for the user. */
export function parseVotesCsv(text: string, source = 'the CSV', options: { caseSensitive?: boolean } = {}): ParsedVotes {
  const records = parseCsv(text);
  const first = records.next();
  if (first.done) throw new Error(`${source} is empty; it needs a header row with the columns ${REQUIRED_COLUMNS.join(', ')}.`);
  const header = first.value.fields.map((h) => h.trim().toLowerCase());
  const index: Record<string, number> = {};
  for (const column of REQUIRED_COLUMNS) index[column] = header.indexOf(column);
  const missing = REQUIRED_COLUMNS.filter((c) => index[c] < 0);
  if (missing.length > 0) {
    throw new Error(
      `${source} has no column ${missing.map((c) => `"${c}"`).join(', ')}. ` +
        `The header must name the columns item, reviewer and label (other columns are ignored); found: ${first.value.fields.map((f) => JSON.stringify(f)).join(', ')}.`,
    );
  }
  const errors: string[] = [];
  let errorCount = 0;
  const fail = (message: string) => {
    errorCount++;
    if (errors.length < MAX_LISTED_ERRORS) errors.push(message);
  };
  // Last vote per (item, reviewer) wins.
  const latest = new Map<string, { item: string; reviewer: string; label: string }>();
  let rows = 0;
  let replaced = 0;
  const spellings = new Set<string>();
  for (const record of records) {
    rows++;
    if (record.fields.length !== header.length) {
      fail(`Line ${record.line}: expected ${header.length} fields like the header, found ${record.fields.length}.`);
      continue;
    }
    const item = record.fields[index.item].trim();
    const reviewer = record.fields[index.reviewer].trim();
    const written = record.fields[index.label];
    const label = options.caseSensitive ? written : normalizeLabel(written);
    spellings.add(written);
    const empty = [item === '' && 'item', reviewer === '' && 'reviewer', label.trim() === '' && 'label'].filter(Boolean);
    if (empty.length > 0) {
      fail(`Line ${record.line}: empty ${empty.join(' and ')}.`);
      continue;
    }
    const key = `${item}\u0000${reviewer}`;
    if (latest.has(key)) {
      replaced++;
      latest.delete(key);
    }
    latest.set(key, { item, reviewer, label });
  }
  if (errorCount > 0) {
    const more = errorCount > errors.length ? `\n… and ${errorCount - errors.length} more bad rows.` : '';
    throw new Error(`${source} has ${errorCount} bad row${errorCount === 1 ? '' : 's'}:\n${errors.join('\n')}${more}`);
  }
  const builder = new VoteTableBuilder();
  let abstentions = 0;
  for (const v of latest.values()) if (!builder.add(v.item, v.reviewer, v.label)) abstentions++;
  const mergedSpellings = options.caseSensitive ? 0 : spellings.size - new Set([...spellings].map(normalizeLabel)).size;
  return { table: builder.build(), rows, abstentions, replaced, mergedSpellings };
}

const fmt = (x: number, digits = 3) => x.toFixed(digits);

export async function runAgreement(options: AgreementOptions): Promise<AgreementRun> {
  let text: string;
  try {
    text = await readFile(options.csvPath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : String((error as Error).message);
    return { text: `Cannot read ${options.csvPath}: ${why}.`, exitCode: EXIT_BAD_INPUT };
  }
  let parsed: ParsedVotes;
  try {
    parsed = parseVotesCsv(text, options.csvPath, { caseSensitive: options.caseSensitive });
  } catch (error) {
    if (error instanceof CsvError || error instanceof Error) return { text: error.message, exitCode: EXIT_BAD_INPUT };
    throw error;
  }
  const { table } = parsed;
  if (table.length === 0) {
    return { text: `${options.csvPath} has no decisive votes (only abstentions or no rows); nothing to aggregate.`, exitCode: EXIT_BAD_INPUT };
  }

  const majority = majorityVote(table);
  const ds = dawidSkene(table);
  const alpha = krippendorffAlpha(table);
  const kappa = fleissKappa(table);
  const K = table.classes.length;
  const nItems = table.itemKeys.length;

  const lines: string[] = [];
  lines.push(
    `${table.length.toLocaleString('en-US')} decisive votes on ${nItems.toLocaleString('en-US')} items by ${table.reviewerKeys.length.toLocaleString('en-US')} reviewers` +
      ` (${parsed.rows.toLocaleString('en-US')} rows; ${parsed.abstentions} unsure, ${parsed.replaced} replaced by a later vote).`,
  );
  lines.push(
    `Labels: ${table.classes.join(', ')} ` +
      (options.caseSensitive
        ? '(exactly as written: case and spacing count).'
        : `(case and spacing ignored${parsed.mergedSpellings > 0 ? `; ${parsed.mergedSpellings} other spelling${parsed.mergedSpellings === 1 ? '' : 's'} merged` : ''}; --case-sensitive keeps them apart).`),
  );
  lines.push(
    alpha.alpha === null
      ? `Krippendorff's alpha (nominal): n/a (no item with two or more votes that disagree anywhere).`
      : `Krippendorff's alpha (nominal): ${fmt(alpha.alpha)} over ${alpha.pairableItems} items with two or more votes.`,
  );
  lines.push(
    kappa.applicable
      ? `Fleiss' kappa: ${fmt(kappa.kappa)} (${kappa.items} items × ${kappa.raters} ratings).`
      : `Fleiss' kappa: n/a (${kappa.reason}).`,
  );
  lines.push(`Dawid–Skene: ${ds.converged ? 'converged' : 'stopped at the iteration cap'} after ${ds.iterations} iterations.`);
  const perClass = new Array<number>(K).fill(0);
  const posteriorSum = new Array<number>(K).fill(0);
  let undecided = 0;
  let disagreeWithMajority = 0;
  for (let i = 0; i < nItems; i++) {
    const l = ds.label[i];
    if (l === UNDECIDED) undecided++;
    else {
      perClass[l]++;
      posteriorSum[l] += ds.confidence[i];
    }
    if (majority.label[i] !== UNDECIDED && l !== majority.label[i]) disagreeWithMajority++;
  }
  for (let k = 0; k < K; k++) {
    const share = perClass[k] / nItems;
    const mean = perClass[k] > 0 ? fmt(posteriorSum[k] / perClass[k]) : 'n/a';
    lines.push(`  ${table.classes[k]}: ${perClass[k]} items (${(share * 100).toFixed(1)}%), mean posterior ${mean}, estimated prevalence ${fmt(ds.classPrior[k])}`);
  }
  if (undecided > 0) lines.push(`  undecided: ${undecided} items`);
  const majorityTies = majority.label.reduce((n, l) => n + (l === UNDECIDED ? 1 : 0), 0);
  lines.push(`  differs from the majority on ${disagreeWithMajority} items; majority is tied on ${majorityTies}.`);
  lines.push('Reviewer reliability (Dawid–Skene: probability their vote matches the true label):');
  const order = Array.from({ length: table.reviewerKeys.length }, (_, j) => j).sort((a, b) => ds.reliability[b] - ds.reliability[a]);
  const width = Math.min(40, Math.max(8, ...table.reviewerKeys.map((r) => String(r).length)));
  lines.push(`  ${'reviewer'.padEnd(width)}  ${'votes'.padStart(7)}  reliability`);
  for (const j of order) {
    lines.push(`  ${String(table.reviewerKeys[j]).slice(0, width).padEnd(width)}  ${String(ds.reviewerVotes[j]).padStart(7)}  ${fmt(ds.reliability[j])}`);
  }

  if (options.outPath) {
    const out: string[] = ['item,majority,ds_label,ds_posterior,n_votes'];
    for (let i = 0; i < nItems; i++) {
      const m = majority.label[i];
      const l = ds.label[i];
      out.push(
        [
          csvField(table.itemKeys[i]),
          m === UNDECIDED ? '' : csvField(table.classes[m]),
          l === UNDECIDED ? '' : csvField(table.classes[l]),
          l === UNDECIDED ? '' : ds.confidence[i].toFixed(6),
          String(majority.decisiveVotes[i]),
        ].join(','),
      );
    }
    try {
      await writeFile(options.outPath, out.join('\n') + '\n', 'utf8');
    } catch (error) {
      return { text: `${lines.join('\n')}\nCannot write ${options.outPath}: ${(error as Error).message}`, exitCode: 1 };
    }
    lines.push(`Wrote ${nItems} item labels to ${options.outPath}.`);
  }
  return { text: lines.join('\n'), exitCode: 0 };
}
