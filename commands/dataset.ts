/**
 * /dataset: export this workspace's labelled explanations (issue 5's dataset export) as a
 * file the channel attaches, with the dataset card written beside it. For admins, and for
 * holders of the reviewer role when one is set: the export holds every prompt of the team.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { coreOf } from '../src/core/context';
import { exportDataset, DatasetExportError, type DatasetFormat } from '../src/core/dataset/export';
import { DomainError } from '../src/core/errors';
import type { CommandDefinition } from './types';

const CONTENT_TYPES: Record<DatasetFormat, string> = {
  jsonl: 'application/x-ndjson',
  parquet: 'application/vnd.apache.parquet',
};

export const dataset: CommandDefinition<{ format?: string; min_votes?: number; activations?: boolean }> = {
  name: 'dataset',
  description: "Export this workspace's labelled explanations as JSONL or Parquet (admins and reviewers).",
  ephemeral: true,
  options: [
    { name: 'format', description: 'jsonl (default) or parquet', type: 'string', choices: ['jsonl', 'parquet'], position: 1 },
    { name: 'min_votes', description: 'Only explanations with at least this many decisive votes (default 0)', type: 'integer', min: 0, max: 1000 },
    { name: 'activations', description: 'Include each activation vector (a larger file)', type: 'boolean' },
  ],
  async run(ctx, options) {
    const core = coreOf(ctx.services);
    const who = await core.identity.resolve(ctx.actor);
    const { reviewer_role } = await core.settingsStore.get(core.database.db, who.workspaceId);
    const reviewer = reviewer_role !== null && (ctx.actor.roles ?? []).includes(reviewer_role);
    if (!ctx.actor.isAdmin && !reviewer) {
      throw new DomainError(
        'admin_only',
        reviewer_role === null
          ? '/dataset is for admins (no reviewer role is set; an admin can set one with settings reviewer_role).'
          : '/dataset is for admins and holders of the reviewer role.',
      );
    }
    const format = (options.format ?? 'jsonl') as DatasetFormat;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const dir = path.join(core.config.dataDir, 'exports', `${ctx.actor.platform}-${who.workspaceId}-${stamp}`);
    const filename = `confab-dataset.${format}`;
    let summary;
    try {
      summary = await exportDataset(core.database.db, {
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
};
