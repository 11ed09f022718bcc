import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configurationTable, configurationTables, TABLES_BEGIN, TABLES_END, withConfigurationTables } from '../../src/cli/config-tables';
import { CORE_VARIABLES } from '../../src/config';
import { CHAT_CHANNELS } from '../../src/platforms';

const README = readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');

/** The rows of every markdown table in a text, by variable name. */
function rows(text: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const m of text.matchAll(/^\| `([A-Z0-9_]+)` \| (.*) \| (.*) \|$/gm)) found.set(m[1], [m[2], m[3]]);
  return found;
}

describe('README configuration tables', () => {
  it('are exactly what the declarations generate', () => {
    const generated = configurationTables();
    expect(README.split(TABLES_BEGIN)).toHaveLength(2);
    expect(README.split(TABLES_END)).toHaveLength(2);
    const shown = README.slice(README.indexOf(TABLES_BEGIN), README.indexOf(TABLES_END) + TABLES_END.length);
    expect(shown).toBe(generated);
    expect(withConfigurationTables(README)).toBe(README);
  });

  it('list every declared variable once, with its default, and nothing else', () => {
    const declared = [...CORE_VARIABLES, ...CHAT_CHANNELS.flatMap((c) => c.variables)];
    const table = rows(configurationTables());
    expect([...table.keys()].sort()).toEqual(declared.map((v) => v.name).sort());
    for (const v of declared) expect(table.get(v.name)?.[0], v.name).toBe(v.default === undefined ? '—' : `\`${v.default}\``);
    // No variable documented outside the generated tables either.
    const outside = README.replace(README.slice(README.indexOf(TABLES_BEGIN), README.indexOf(TABLES_END)), '');
    expect([...rows(outside).keys()]).toEqual([]);
  });

  it('refuses a README without the markers, and keeps a table intact around pipes and line breaks', () => {
    expect(() => withConfigurationTables('# no tables here\n')).toThrow(/has no configuration tables/);
    const table = configurationTable('Test', [{ name: 'X_MODE', description: 'a | b\nc', default: 'on|off' }]);
    expect(table.split('\n').at(-1)).toBe('| `X_MODE` | `on\\|off` | a \\| b c |');
  });
});
