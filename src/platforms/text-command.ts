/**
 * Text-command syntax, shared by the terminal and Slack's `/confab <subcommand>`: one line in, one
 * command call out. The options of each command come from its
 * declaration (`OptionSpec`), so the terminal accepts exactly what Discord and Slack accept:
 *
 *     /explain --position 3 --samples 2 The prompt, which takes the rest of the line
 *     /vote #12 confabulated the note, which takes the rest of the line
 *     /settings votes_to_close=5
 *
 * Named options come first (`--name value`, `--name=value`, a bare `--flag` for booleans).
 * Then the positional options in their declared order; the last one takes the rest of the
 * line verbatim, so a prompt may contain anything (a lone `--` ends the named options, for a
 * prompt that itself starts with `--`). Commands with no
 * positional options also accept `name=value`.
 *
 * Only syntax is checked here (unknown options, unbalanced quotes). Values stay text: turning
 * them into numbers (`#12` included), ranges, required options and choices are the command
 * layer's job (commands/invoke.ts), so every channel gives the same message for them.
 */
import type { CommandDefinition, OptionSpec, ParsedOptions } from '../../commands/types';

/** Commands the terminal handles itself, without the command layer. */
export const TERMINAL_COMMANDS = {
  help: { usage: '/help [command]', description: 'List the commands, or show one command in detail.' },
  as: { usage: '/as NAME', description: 'Act as another reviewer from now on (for demos and several-reviewer sessions).' },
  quit: { usage: '/quit', description: 'Leave the session.' },
} as const;
export type TerminalCommandName = keyof typeof TERMINAL_COMMANDS;

export type ParsedLine =
  | { kind: 'empty' }
  | { kind: 'terminal'; name: TerminalCommandName; argument: string }
  | { kind: 'command'; name: string; options: ParsedOptions }
  | { kind: 'error'; message: string };

/** Option names match ignoring case, dashes and underscores: --max-prompt-chars = max_prompt_chars. */
function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, '');
}

function findOption(definition: CommandDefinition, name: string): OptionSpec | undefined {
  const wanted = normalizeName(name);
  return definition.options.find((option) => normalizeName(option.name) === wanted);
}

/** How an option is typed on the terminal, for help and errors: `--max-prompt-chars`. */
export function flagName(option: OptionSpec): string {
  return `--${option.name.replace(/_/g, '-').replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase()}`;
}

export function positionalOptions(definition: CommandDefinition): OptionSpec[] {
  return definition.options
    .filter((option) => option.position !== undefined)
    .sort((a, b) => (a.position as number) - (b.position as number));
}

/** Reads one word, or a double-quoted string with \" and \\ escapes, from the start of `text`. */
function takeWord(text: string): { word: string; rest: string } | { error: string } {
  if (text.startsWith('"')) {
    let word = '';
    for (let i = 1; i < text.length; i++) {
      const ch = text[i];
      if (ch === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) {
        word += text[i + 1];
        i++;
      } else if (ch === '"') {
        return { word, rest: text.slice(i + 1).trimStart() };
      } else {
        word += ch;
      }
    }
    return { error: 'A quoted value is missing its closing ".' };
  }
  const match = /^(\S+)\s*/.exec(text);
  if (!match) return { word: '', rest: '' };
  return { word: match[1], rest: text.slice(match[0].length) };
}

function optionList(definition: CommandDefinition): string {
  return definition.options.length === 0 ? 'it takes none' : `allowed: ${definition.options.map(flagName).join(', ')}`;
}

/** Parse one line typed or piped into the terminal. */
export function parseLine(line: string, commands: ReadonlyMap<string, CommandDefinition>): ParsedLine {
  const text = line.trim();
  // Blank lines and `# comments` let a piped session script explain itself.
  if (text === '' || /^#(\s|$)/.test(text)) return { kind: 'empty' };
  if (!text.startsWith('/')) {
    return { kind: 'error', message: 'Commands start with "/", for example: /explain The quick brown fox. Type /help for the list.' };
  }
  const head = /^\/(\S*)\s*/.exec(text) as RegExpExecArray;
  const name = head[1].toLowerCase();
  let rest = text.slice(head[0].length);

  if (name in TERMINAL_COMMANDS) return { kind: 'terminal', name: name as TerminalCommandName, argument: rest.trim() };

  const definition = commands.get(name);
  if (!definition) {
    const known = [...commands.keys(), ...Object.keys(TERMINAL_COMMANDS)].sort().map((n) => `/${n}`);
    return { kind: 'error', message: `Unknown command "/${name}". Commands: ${known.join(', ')}.` };
  }

  const options: ParsedOptions = {};
  const positional = positionalOptions(definition);

  // Named options, before any positional text. A lone `--` ends them, for text that starts with `--`.
  while (rest.startsWith('--') || (positional.length === 0 && /^[A-Za-z][\w-]*=/.test(rest))) {
    if (/^--(\s|$)/.test(rest)) {
      rest = rest.slice(2).trimStart();
      break;
    }
    const named = /^(?:--)?([A-Za-z][\w-]*)(=)?/.exec(rest);
    if (!named) return { kind: 'error', message: `Could not read the option at "${rest.split(/\s/)[0]}".` };
    const option = findOption(definition, named[1]);
    const shown = rest.startsWith('--') ? `--${named[1]}` : named[1];
    if (!option) {
      return { kind: 'error', message: `/${name} has no option ${shown}; ${optionList(definition)}.` };
    }
    rest = rest.slice(named[0].length);
    let raw: string;
    if (named[2] === '=') {
      const taken = takeWord(rest);
      if ('error' in taken) return { kind: 'error', message: taken.error };
      raw = taken.word;
      rest = taken.rest;
    } else if (option.type === 'boolean') {
      // A bare flag is true; `--flag=false` says otherwise.
      options[option.name] = true;
      rest = rest.trimStart();
      continue;
    } else {
      rest = rest.trimStart();
      const taken = takeWord(rest);
      if ('error' in taken) return { kind: 'error', message: taken.error };
      if (taken.word === '') return { kind: 'error', message: `${flagName(option)} needs a value.` };
      raw = taken.word;
      rest = taken.rest;
    }
    options[option.name] = raw;
  }

  // Positional options not already given by name, in declared order; the last takes the rest.
  const remaining = positional.filter((option) => options[option.name] === undefined);
  for (let i = 0; i < remaining.length && rest !== ''; i++) {
    const option = remaining[i];
    let raw: string;
    if (i === remaining.length - 1 && option.type === 'string') {
      raw = rest;
      rest = '';
    } else {
      const taken = takeWord(rest);
      if ('error' in taken) return { kind: 'error', message: taken.error };
      raw = taken.word;
      rest = taken.rest;
    }
    options[option.name] = raw;
  }
  if (rest !== '') {
    return { kind: 'error', message: `/${name} does not take "${rest}"; usage: ${usageLine(definition)}` };
  }
  return { kind: 'command', name, options };
}

/** How a value of each option type is shown in usage lines; types added later show as VALUE. */
const VALUE_NAMES: Record<string, string> = { string: 'TEXT', integer: 'N', number: 'N', role: 'ROLE_ID', channel: 'CHANNEL_ID' };

/** `/vote <explanation> <label> [note]`, built from the declaration. */
export function usageLine(definition: CommandDefinition): string {
  const parts = [`/${definition.name}`];
  const positional = positionalOptions(definition);
  for (const option of definition.options) {
    if (option.position !== undefined) continue;
    const value = option.type === 'boolean' ? '' : ` ${VALUE_NAMES[option.type] ?? 'VALUE'}`;
    parts.push(`[${flagName(option)}${value}]`);
  }
  for (const option of positional) {
    const shown = option.choices ? option.choices.join('|') : `<${option.name}>`;
    parts.push(option.required ? shown : `[${shown}]`);
  }
  return parts.join(' ');
}
