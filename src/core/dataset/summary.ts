/**
 * What an export reports: to the command that ran it and to the dataset card. Kept apart from
 * the export itself so that the card depends on the summary, not on the code that writes it.
 */
import type { DatasetLabels } from './labels';
import type { Split } from './split';

export type DatasetFormat = 'jsonl' | 'parquet';

export interface ExportSummary {
  path: string;
  cardPath: string;
  format: DatasetFormat;
  rows: number;
  /** Votes (all labels, including unsure) in the exported rows. */
  votes: number;
  /** Votes in the rows with a note, and with at least one marked claim. */
  votesWithNote: number;
  votesWithMarkedClaims: number;
  /** Explanations skipped because they had fewer than minVotes decisive votes. */
  belowMinVotes: number;
  splits: Record<Split, number>;
  majority: Record<'faithful' | 'confabulated' | 'undecided', number>;
  dawidSkene: Record<'faithful' | 'confabulated' | 'undecided', number>;
  models: Array<{ model: string | null; layer: number | null; rows: number }>;
  reviewersInRows: number;
  labels: DatasetLabels;
  seconds: number;
}

export class DatasetExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetExportError';
  }
}
