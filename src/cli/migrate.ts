/**
 * `confab migrate`: apply the committed drizzle-kit migrations and exit. `confab start` applies
 * them too; this is for deployments that migrate in a separate step before starting N bots.
 */
import { loadConfig, loadDotEnv } from '../config';
import { openDatabase } from '../../db';
import type { CliCommand } from './spec';

export const migrateCommand: CliCommand = {
  name: 'migrate',
  summary: 'Apply the database migrations (PGlite in CONFAB_DATA_DIR, or DATABASE_URL) and exit.',
  options: {},
  details: ['Safe to run while other Confab processes use the same PostgreSQL server: migrations run under an advisory lock.'],
  async run(_args, io) {
    loadDotEnv();
    const config = loadConfig(io.env);
    const database = await openDatabase(config.database);
    try {
      io.stdout.write(`Migrations applied: ${database.kind} at ${database.target}.\n`);
    } finally {
      await database.close();
    }
    return 0;
  },
};
