/**
 * Writes the README's configuration tables from the variable declarations:
 *   npx tsx scripts/readme-config.ts           rewrite README.md
 *   npx tsx scripts/readme-config.ts --check   exit 1 when README.md is out of date
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { withConfigurationTables } from '../src/cli/config-tables';

const file = path.resolve(import.meta.dirname, '..', 'README.md');
const readme = readFileSync(file, 'utf8');
const updated = withConfigurationTables(readme);
if (process.argv.includes('--check')) {
  if (updated !== readme) {
    console.error('README.md: the configuration tables differ from the declarations; run `npx tsx scripts/readme-config.ts`.');
    process.exit(1);
  }
} else if (updated !== readme) {
  writeFileSync(file, updated);
  console.log('README.md: configuration tables updated.');
}
