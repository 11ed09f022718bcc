/**
 * The README's configuration tables, generated from the variable declarations (the core's in
 * src/config.ts, each channel's in its module), so the README cannot drift from the code.
 * `npx tsx scripts/readme-config.ts` writes them between the two markers below.
 */
import { CORE_VARIABLES } from '../config';
import { CHAT_CHANNELS, type VariableSpec } from '../platforms';

export const TABLES_BEGIN = '<!-- configuration tables: generated from the variable declarations by `npx tsx scripts/readme-config.ts` -->';
export const TABLES_END = '<!-- end of configuration tables -->';

const CORE_GROUPS: Record<string, string> = { core: 'Core', worker: 'Inference worker', review: 'Review', judge: 'LLM judge' };

export function configurationTable(title: string, variables: readonly VariableSpec[]): string {
  const cell = (text: string) => text.replaceAll('|', '\\|').replace(/\s+/g, ' ').trim();
  const rows = variables.map((v) => `| \`${v.name}\` | ${v.default !== undefined ? `\`${cell(v.default)}\`` : '—'} | ${cell(v.description)} |`);
  return [`### ${title}`, '', '| variable | default | what it does |', '|---|---|---|', ...rows].join('\n');
}

/** Every table, markers included: the core's groups in declaration order, then each chat channel. */
export function configurationTables(): string {
  const groups = new Map<string, VariableSpec[]>();
  for (const variable of CORE_VARIABLES) {
    const group = variable.group ?? 'core';
    groups.set(group, [...(groups.get(group) ?? []), variable]);
  }
  const tables = [...groups].map(([group, variables]) => configurationTable(CORE_GROUPS[group] ?? group, variables));
  for (const channel of CHAT_CHANNELS) {
    if (channel.variables.length) tables.push(configurationTable(`${channel.name.charAt(0).toUpperCase()}${channel.name.slice(1)} channel`, channel.variables));
  }
  return [TABLES_BEGIN, '', tables.join('\n\n'), '', TABLES_END].join('\n');
}

/** The README with its configuration tables replaced; throws when the markers are missing. */
export function withConfigurationTables(readme: string): string {
  const begin = readme.indexOf(TABLES_BEGIN);
  const end = readme.indexOf(TABLES_END);
  if (begin < 0 || end < begin) throw new Error(`README.md has no configuration tables between "${TABLES_BEGIN}" and "${TABLES_END}".`);
  return readme.slice(0, begin) + configurationTables() + readme.slice(end + TABLES_END.length);
}
