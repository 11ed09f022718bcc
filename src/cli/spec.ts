/**
 * How a `confab` subcommand is declared: its options once, from which both the parser
 * (node:util parseArgs) and the help text are built.
 */
import { parseArgs } from 'node:util';

export interface CliOption {
  type: 'string' | 'boolean';
  description: string;
  /** Shown in help for string options: `--port N`. */
  valueName?: string;
  short?: string;
}

export interface CliIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: Record<string, string | undefined>;
}

export interface CliArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export interface CliCommand {
  /** One word, or two for a group: 'start', 'discord register'. */
  name: string;
  summary: string;
  /** Extra help paragraphs, after the options. */
  details?: string[];
  options: Record<string, CliOption>;
  /** Positional arguments, for help; none means positionals are refused. */
  positionals?: Array<{ name: string; description: string; required?: boolean }>;
  /** Returns the exit code. */
  run(args: CliArgs, io: CliIo): Promise<number>;
}

/** A mistake in how confab was called: printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A problem the operator must fix (a port in use, say): printed as its one-line message, exit code 1. */
export class OperatorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OperatorError';
  }
}

export function parseCommandArgs(command: CliCommand, argv: string[]): CliArgs {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [name, option] of Object.entries(command.options)) options[name] = option.short ? { type: option.type, short: option.short } : { type: option.type };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: (command.positionals ?? []).length > 0, strict: true });
  } catch (error) {
    // parseArgs messages name the option ("Unknown option '--prot'"); keep them, drop the error code.
    throw new UsageError(String((error as Error).message).replace(/\. To specify a positional argument.*$/s, '.'), command.name);
  }
  const required = (command.positionals ?? []).filter((p) => p.required);
  if (parsed.positionals.length < required.length) {
    throw new UsageError(`Missing ${required[parsed.positionals.length].name}.`, command.name);
  }
  const most = (command.positionals ?? []).length;
  if (parsed.positionals.length > most) {
    throw new UsageError(`Unexpected argument "${parsed.positionals[most]}".`, command.name);
  }
  return { values: parsed.values as CliArgs['values'], positionals: parsed.positionals };
}

export function commandHelp(command: CliCommand): string {
  const positionals = (command.positionals ?? []).map((p) => (p.required ? `<${p.name}>` : `[${p.name}]`));
  const lines = [`Usage: confab ${command.name}${Object.keys(command.options).length ? ' [options]' : ''}${positionals.length ? ` ${positionals.join(' ')}` : ''}`, '', command.summary];
  const rows: Array<[string, string]> = [];
  for (const p of command.positionals ?? []) rows.push([p.name, p.description]);
  for (const [name, option] of Object.entries(command.options)) {
    const flag = `${option.short ? `-${option.short}, ` : ''}--${name}${option.type === 'string' ? ` ${option.valueName ?? 'VALUE'}` : ''}`;
    rows.push([flag, option.description]);
  }
  rows.push(['-h, --help', 'Show this help.']);
  const width = Math.max(...rows.map(([left]) => left.length));
  lines.push('', 'Options:', ...rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`));
  if (command.details?.length) lines.push('', ...command.details);
  return `${lines.join('\n')}\n`;
}
