/**
 * /dataset: export this workspace's labelled explanations as a file the channel attaches, with
 * the dataset card written beside it. For admins, and for holders of the reviewer role when one
 * is set: the export holds every prompt of the team.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { exportDataset, DatasetExportError, type DatasetFormat } from '../src/core/dataset/export';
import { DomainError } from '../src/core/errors';
import { defineCommand } from './define';

const CONTENT_TYPES: Record<DatasetFormat, string> = {
  jsonl: 'application/x-ndjson',
  parquet: 'application/vnd.apache.parquet',
};
const FORMATS = ['jsonl', 'parquet'] as const satisfies readonly DatasetFormat[];

export const dataset = defineCommand({
  name: 'dataset',
  description: "Export this workspace's labelled explanations as JSONL or Parquet (admins and reviewers).",
  ephemeral: true,
  options: z.object({
    format: z.enum(FORMATS).meta({ description: 'jsonl (default) or parquet', position: 1 }).optional(),
    min_votes: z.int().min(0).max(1000).meta({ description: 'Only explanations with at least this many decisive votes (default 0)' }).optional(),
    activations: z.boolean().meta({ description: 'Include each activation vector (a larger file)' }).optional(),
  }),
  async run({ actor, services }, options) {
    const who = await services.identity.resolve(actor);
    const db = services.database.db;
    const { reviewer_role } = await services.settingsStore.get(db, who.workspaceId);
    const reviewer = reviewer_role !== null && (actor.roles ?? []).includes(reviewer_role);
    if (!actor.isAdmin && !reviewer) {
      throw new DomainError(
        'admin_only',
        reviewer_role === null
          ? '/dataset is for admins (no reviewer role is set; an admin can set one with settings reviewer_role).'
          : '/dataset is for admins and holders of the reviewer role.',
      );
    }
    const format = options.format ?? 'jsonl';
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const dir = path.join(services.config.dataDir, 'exports', `${actor.platform}-${who.workspaceId}-${stamp}`);
    const filename = `confab-dataset.${format}`;
    let summary;
    try {
      summary = await exportDataset(db, {
        workspaceId: who.workspaceId,
        format,
        out: path.join(dir, filename),
        minVotes: options.min_votes ?? 0,
        includeActivations: options.activations ?? false,
      });
    } catch (e) {
      if (e instanceof DatasetExportError) throw new DomainError('export_failed', e.message);
      throw e;
    }
    const { size } = await stat(summary.path);
    const m = summary.majority;
    return {
      view: {
        kind: 'file',
        path: summary.path,
        filename,
        bytes: size,
        contentType: CONTENT_TYPES[format],
        summary: [
          `${summary.rows} explanation${summary.rows === 1 ? '' : 's'}, ${summary.votes} vote${summary.votes === 1 ? '' : 's'}, ${summary.reviewersInRows} reviewer${summary.reviewersInRows === 1 ? '' : 's'} (pseudonymous).`,
          `Majority labels: ${m.faithful} faithful, ${m.confabulated} confabulated, ${m.undecided} undecided.`,
          `Splits: ${summary.splits.train} train, ${summary.splits.validation} validation, ${summary.splits.test} test.`,
          `Dataset card: ${summary.cardPath}`,
        ],
      },
      ephemeral: true,
    };
  },
});
