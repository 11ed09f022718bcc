/**
 * `/confab <subcommand> …`: the text Slack sends, read with the terminal's parser over the same
 * command declarations, so Slack accepts exactly the options and values the terminal does.
 */
import type { CommandDefinition, ParsedOptions } from '../../../commands/types';
import { parseLine, usageLine } from '../text-command';

export type SlashRequest =
  | { kind: 'command'; name: string; options: ParsedOptions }
  | { kind: 'help'; lines: string[]; definition?: CommandDefinition }
  | { kind: 'usage-error'; message: string; lines: string[] };

/** Slack sends `&`, `<` and `>` in command text as entities; the command sees what was typed. */
export function decodeSlashText(text: string): string {
  return text.replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');
}

export function slackUsage(definition: CommandDefinition): string {
  return usageLine(definition).replace(/^\//, '/confab ');
}

export function helpLines(commands: ReadonlyMap<string, CommandDefinition>): string[] {
  const lines = [...commands.values()].map((d) => `\`${slackUsage(d)}\` — ${d.description}`);
  lines.push('`/confab help [subcommand]` — this list, or one subcommand in detail.');
  lines.push('Explanation ids are shown as #12; type them as #12 or 12.');
  return lines;
}

/** One subcommand in detail; `live` holds limits that follow the model (positions), when known. */
export function commandHelp(definition: CommandDefinition, live: Record<string, { min: number; max: number }> = {}): string[] {
  const lines = [definition.description, `Usage: \`${slackUsage(definition)}\``];
  for (const option of definition.options) {
    const limits: string[] = [];
    if (option.choices) limits.push(`one of ${option.choices.join(', ')}`);
    const { min, max } = live[option.name] ?? option;
    if (min !== undefined || max !== undefined) limits.push(`${min ?? '…'} to ${max ?? '…'}`);
    if (option.required) limits.push('required');
    lines.push(`• ${option.name}: ${option.description}${limits.length ? ` (${limits.join('; ')})` : ''}`);
  }
  lines.push(...(definition.notes ?? []));
  if (definition.adminOnly) lines.push('For workspace admins and owners.');
  return lines;
}

export function parseSlashText(rawText: string, commands: ReadonlyMap<string, CommandDefinition>): SlashRequest {
  const text = decodeSlashText(rawText).trim();
  const [first = '', ...rest] = text.split(/\s+/);
  const name = first.replace(/^\//, '').toLowerCase();
  if (name === '' || name === 'help') {
    const wanted = rest.join(' ').replace(/^\//, '').toLowerCase();
    if (wanted === '') return { kind: 'help', lines: helpLines(commands) };
    const definition = commands.get(wanted);
    if (!definition) return { kind: 'usage-error', message: `There is no /confab ${wanted} subcommand.`, lines: helpLines(commands) };
    return { kind: 'help', lines: commandHelp(definition), definition };
  }
  const definition = commands.get(name);
  if (!definition) {
    return { kind: 'usage-error', message: `There is no /confab ${name} subcommand.`, lines: helpLines(commands) };
  }
  const parsed = parseLine(`/${text.replace(/^\//, '')}`, commands);
  if (parsed.kind === 'command') return { kind: 'command', name: parsed.name, options: parsed.options };
  const message = parsed.kind === 'error' ? parsed.message.replace(/\/(\w+) /g, (m, n: string) => (commands.has(n) ? `/confab ${n} ` : m)) : 'That could not be read.';
  return { kind: 'usage-error', message, lines: [`Usage: \`${slackUsage(definition)}\``, 'Type `/confab help ' + definition.name + '` for each option.'] };
}
