/**
 * `confab dataset export`: the labelled dataset (one row per explanation) as JSONL or Parquet,
 * with a dataset card beside it. The work is in src/core/dataset/export.ts; this file maps flags.
 */
import path from 'node:path';
import v8 from 'node:v8';
import { loadConfig, loadDotEnv } from '../config';
import { UsageError, type CliCommand } from './spec';

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
    out: { type: 'string', valueName: 'PATH', description: 'Data file to write (default CONFAB_DATA_DIR/exports/confab-<date>.<format>); README.md goes beside it.' },
    'min-votes': { type: 'string', valueName: 'N', description: 'Only explanations with at least N decisive votes (default 0).' },
    since: { type: 'string', valueName: 'DATE', description: 'Only explanations stored on or after this date (YYYY-MM-DD or ISO 8601).' },
    'include-activations': { type: 'boolean', description: 'Include the activation vectors (float32 lists).' },
  },
  details: ['Reviewers appear only as pseudonymous ids (an HMAC under the install secret). Splits are assigned by prompt hash.'],
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
    const out =
      typeof values.out === 'string' ? values.out : path.join(config.dataDir, 'exports', `confab-${new Date().toISOString().slice(0, 10)}.${format === 'jsonl' ? 'jsonl' : 'parquet'}`);

    if (config.database.kind === 'pglite') keepWasmOnBaselineCompiler();
    const [{ openDatabase }, { exportDataset }] = await Promise.all([import('../../db'), import('../core/dataset/export')]);
    const database = await openDatabase(config.database, { lowMemory: true });
    try {
      const summary = await exportDataset(database.db, { format, out, minVotes, since, includeActivations: values['include-activations'] === true });
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
