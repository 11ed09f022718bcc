/**
 * `confab dataset export`: the labelled dataset (one row per explanation) as JSONL or Parquet,
 * with a dataset card beside it. The work is in src/core/dataset/export.ts; this file maps flags
 * and sets up the process for a one-shot read of the whole database.
 */
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { loadConfig, loadDotEnv } from '../config';
import { UsageError, type CliCommand } from './spec';

/**
 * V8's full garbage collection as a function, for the export's bounded memory: an export
 * allocates fast and keeps little, and V8 sizes its next collection on the allocation rate, so
 * without a collection on request the heap fills with garbage. The flag exposes `gc` to a fresh
 * context and is turned off again, so no other code sees a `gc` global. Null where V8 refuses.
 */
export function exposeGarbageCollector(): (() => void) | null {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    v8.setFlagsFromString('--no-expose-gc');
    return typeof gc === 'function' ? gc : null;
  } catch {
    return null;
  }
}

/**
 * Keeps embedded PGlite's WebAssembly on V8's baseline compiler: a one-shot export never gains
 * back the memory that optimizing it costs. Process-wide, so only this command sets it, and
 * before PGlite's module is compiled. PostgreSQL needs no such thing.
 */
function keepWasmOnBaselineCompiler(): void {
  v8.setFlagsFromString('--liftoff-only');
}

export const datasetExportCommand: CliCommand = {
  name: 'dataset export',
  summary: 'Export the labelled dataset (JSONL or Parquet, with a dataset card).',
  options: {
    format: { type: 'string', valueName: 'jsonl|parquet', description: 'File format (default jsonl).' },
    out: {
      type: 'string',
      valueName: 'PATH',
      description: 'Data file to write (default CONFAB_DATA_DIR/exports/confab-<time>.<format>); its card goes beside it as <name>.card.md.',
    },
    force: { type: 'boolean', description: 'Replace the data file and card if they exist (otherwise an existing file stops the export).' },
    'min-votes': { type: 'string', valueName: 'N', description: 'Only explanations with at least N decisive votes (default 0).' },
    since: { type: 'string', valueName: 'DATE', description: 'Only explanations stored on or after this date (YYYY-MM-DD or ISO 8601).' },
    'include-activations': { type: 'boolean', description: 'Include the activation vectors (float32 lists).' },
  },
  details: [
    'Reviewers appear only as pseudonymous ids (an HMAC under the install secret). Splits are assigned by prompt hash.',
    'The export reads one snapshot of the database: votes cast while it runs are in the next export.',
  ],
  async run({ values }, io) {
    loadDotEnv();
    const config = loadConfig(io.env);
    const format = (values.format ?? 'jsonl') as string;
    if (format !== 'jsonl' && format !== 'parquet') throw new UsageError(`--format must be jsonl or parquet; got "${format}".`, 'dataset export');
    let minVotes: number | undefined;
    if (values['min-votes'] !== undefined) {
      if (!/^\d+$/.test(String(values['min-votes']))) throw new UsageError(`--min-votes must be a whole number ≥ 0; got "${values['min-votes']}".`, 'dataset export');
      minVotes = Number(values['min-votes']);
    }
    let since: Date | undefined;
    if (typeof values.since === 'string') {
      since = new Date(values.since);
      if (Number.isNaN(since.getTime())) throw new UsageError(`--since must be a date (YYYY-MM-DD or ISO 8601); got "${values.since}".`, 'dataset export');
    }
    if (values.out === '') throw new UsageError('--out must name a file; got an empty path.', 'dataset export');
    // A default name with the time to the second, so a second export never meets the first.
    const stamp = new Date().toISOString().slice(0, 19).replace(/:/g, '-');
    const out = typeof values.out === 'string' ? values.out : path.join(config.dataDir, 'exports', `confab-${stamp}.${format}`);

    const collectGarbage = exposeGarbageCollector() ?? undefined;
    if (config.database.kind === 'pglite') keepWasmOnBaselineCompiler();
    const [{ openDatabase }, { exportDataset }] = await Promise.all([import('../../db'), import('../core/dataset/export')]);
    const database = await openDatabase(config.database, { lowMemory: true });
    try {
      const summary = await exportDataset(database.db, {
        format,
        out,
        overwrite: values.force === true,
        minVotes,
        since,
        includeActivations: values['include-activations'] === true,
        collectGarbage,
      });
      const labelled = summary.majority.faithful + summary.majority.confabulated;
      io.stdout.write(
        [
          `Wrote ${summary.rows.toLocaleString('en-US')} rows (${summary.votes.toLocaleString('en-US')} votes, ${labelled.toLocaleString('en-US')} with a majority label) to ${summary.path} in ${summary.seconds.toFixed(1)} s`,
          `Dataset card: ${summary.cardPath}`,
          `Splits: train ${summary.splits.train}, validation ${summary.splits.validation}, test ${summary.splits.test}` +
            (summary.belowMinVotes ? `; ${summary.belowMinVotes} explanations had fewer than ${minVotes} decisive votes and were left out` : ''),
          '',
        ].join('\n'),
      );
    } finally {
      await database.close();
    }
    return 0;
  },
};
