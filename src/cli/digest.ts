/**
 * `confab digest`: a workspace's digest for one ISO week (by default the week that just ended, in
 * the workspace's digest_time_zone), as text or as one JSON object, and optionally its chart.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, loadDotEnv } from '../config';
import { UsageError, type CliCommand } from './spec';

export const digestCommand: CliCommand = {
  name: 'digest',
  summary: "Print a workspace's weekly digest (text or JSON), and optionally write its chart.",
  options: {
    week: { type: 'string', valueName: 'YYYY-Www', description: 'The ISO week, e.g. 2026-W48 (default: the week that just ended).' },
    workspace: { type: 'string', valueName: 'ID', description: 'The workspace: its number, or platform:id (needed when there are several).' },
    json: { type: 'boolean', description: 'Print one JSON object instead of text.' },
    png: { type: 'string', valueName: 'PATH', description: 'Write the chart (PNG) to this file.' },
  },
  details: ['Weeks are read in the workspace\'s digest_time_zone setting (default UTC). Reviewers are never named.'],
  async run({ values }, io) {
    loadDotEnv();
    const config = loadConfig(io.env);
    const week = typeof values.week === 'string' ? values.week : undefined;
    if (week !== undefined && !/^\d{4}-?W\d{2}$/i.test(week.trim())) {
      throw new UsageError(`--week must be an ISO week such as 2026-W48; got "${week.slice(0, 40)}"`, 'digest');
    }
    if (typeof values.png === 'string' && values.png.trim() === '') throw new UsageError('--png needs a file path', 'digest');
    if (typeof values.workspace === 'string' && values.workspace.trim() === '') throw new UsageError('--workspace needs a workspace number or platform:id', 'digest');

    const [{ openDatabase }, digest, { SettingsStore }, { DomainError }] = await Promise.all([
      import('../../db'),
      import('../core/digest'),
      import('../core/settings'),
      import('../core/errors'),
    ]);
    const database = await openDatabase(config.database);
    try {
      let content;
      try {
        const workspace = await digest.findWorkspace(database.db, typeof values.workspace === 'string' ? values.workspace : undefined);
        const { digest_time_zone } = await new SettingsStore(config).get(database.db, workspace.id);
        content = await digest.digestOnDemand(database.db, { workspaceId: workspace.id, timeZone: digest_time_zone, week, fallback: 'last' });
      } catch (error) {
        if (error instanceof DomainError) throw new UsageError(error.message, 'digest');
        throw error;
      }
      if (typeof values.png === 'string') {
        const { renderDigestChart } = await import('../render/chart');
        const file = path.resolve(values.png);
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, await renderDigestChart(content));
        if (!values.json) io.stderr.write(`Chart written to ${file}\n`);
      }
      if (values.json) io.stdout.write(`${JSON.stringify(digest.digestJson(content))}\n`);
      else {
        const { escapeTerminal } = await import('../platforms/terminal/escape');
        io.stdout.write(`${[digest.digestTitle(content), ...digest.digestLines(content)].map((l) => escapeTerminal(l)).join('\n')}\n`);
      }
    } finally {
      await database.close();
    }
    return 0;
  },
};
