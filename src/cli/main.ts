/**
 * `confab`: the command-line entry point. `bin/confab.mjs` calls `main(argv)`.
 *
 * Exit codes: 0 success; 1 a failure the person running Confab can fix (bad configuration,
 * database unreachable, models missing), printed as plain lines without a stack trace;
 * 2 a usage mistake (unknown command or option).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { escapeTerminal } from '../platforms/terminal/escape';
import { commandHelp, parseCommandArgs, UsageError, type CliCommand, type CliIo } from './spec';

/** A subcommand as `confab --help` lists it; its module (and what that imports) loads only when used. */
export interface CliCommandEntry {
  name: string;
  /** The same sentence as the command's own `summary` (a test holds them equal). */
  summary: string;
  load(): Promise<CliCommand>;
}

/**
 * Every subcommand, in the order `confab --help` lists them. Imported lazily: help and
 * `agreement` must not pay for the database, the model runtime, the config schema or the logger.
 */
export const CLI_COMMANDS: readonly CliCommandEntry[] = [
  { name: 'start', summary: 'Start Confab: the chat channels the environment configures, or a local terminal session.', load: async () => (await import('./start')).startCommand },
  { name: 'worker', summary: 'Run the inference worker (SAE features and NLA explanations over HTTP).', load: async () => (await import('./worker')).workerCommand },
  { name: 'migrate', summary: 'Apply the database migrations (PGlite in CONFAB_DATA_DIR, or DATABASE_URL) and exit.', load: async () => (await import('./migrate')).migrateCommand },
  { name: 'doctor', summary: 'Check the configuration, database, worker and channels, with secrets masked.', load: async () => (await import('./doctor')).doctorCommand },
  { name: 'dataset export', summary: 'Export the labelled dataset (JSONL or Parquet, with a dataset card).', load: async () => (await import('./dataset')).datasetExportCommand },
  { name: 'digest', summary: "Print a workspace's weekly digest (text or JSON), and optionally write its chart.", load: async () => (await import('./digest')).digestCommand },
  { name: 'agreement', summary: 'Agreement (Krippendorff’s alpha, Fleiss’ kappa) and Dawid–Skene labels for a CSV of votes.', load: async () => (await import('./agreement')).agreementCommand },
  { name: 'discord register', summary: 'Register the slash commands with Discord (DISCORD_TOKEN, DISCORD_APPLICATION_ID).', load: async () => (await import('./discord')).discordRegisterCommand },
];

/**
 * Errors whose message is the whole story for the operator. Matched by name so that the CLI
 * need not import every module that raises one.
 */
const OPERATOR_ERRORS = new Set(['OperatorError', 'SlackConfigError', 'ConfigError', 'DatabaseUnavailableError', 'ChannelUnavailableError', 'EngineError', 'ManifestError', 'DatasetExportError']);

export function mainHelp(): string {
  const width = Math.max(...CLI_COMMANDS.map((c) => c.name.length));
  return [
    'Usage: confab <command> [options]',
    '',
    'Confab: review what NLA explanations claim, beside SAE evidence, and turn votes into a labeled dataset.',
    '',
    'Commands:',
    ...CLI_COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `confab <command> --help` for a command’s options. Configuration comes from the',
    'environment and an optional .env file; `confab doctor` shows what is in effect.',
    '',
  ].join('\n');
}

/** Finds the longest command name that prefixes argv: `discord register` before `discord`. */
function findCommand(argv: string[]): { command: CliCommandEntry; rest: string[] } | undefined {
  for (const command of [...CLI_COMMANDS].sort((a, b) => b.name.split(' ').length - a.name.split(' ').length)) {
    const parts = command.name.split(' ');
    if (parts.every((part, i) => argv[i] === part)) return { command, rest: argv.slice(parts.length) };
  }
  return undefined;
}

export async function main(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  if (argv.length === 0) {
    // No command is a usage mistake: the help goes to stderr, so a script's stdout stays empty.
    io.stderr.write(mainHelp());
    return 2;
  }
  if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    const topic = argv[0] === 'help' ? argv.slice(1) : [];
    const found = topic.length ? findCommand(topic) : undefined;
    if (topic.length && !found) return unknownCommand(topic[0], io);
    io.stdout.write(found ? commandHelp(await found.command.load()) : mainHelp());
    return 0;
  }
  if (argv[0] === '--version' || argv[0] === '-v') {
    const pkg = JSON.parse(readFileSync(packageJsonPath(), 'utf8')) as { version: string };
    io.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const found = findCommand(argv);
  if (!found) {
    const group = CLI_COMMANDS.filter((c) => c.name.startsWith(`${argv[0]} `));
    if (group.length > 0 && (argv.includes('--help') || argv.includes('-h'))) {
      io.stdout.write(`Usage: confab ${argv[0]} <subcommand> [options]\n\n${group.map((c) => `  ${c.name}  ${c.summary}`).join('\n')}\n`);
      return 0;
    }
    return unknownCommand(argv[0], io);
  }
  const command = await found.command.load();
  const { rest } = found;
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(commandHelp(command));
    return 0;
  }
  try {
    return await command.run(parseCommandArgs(command, rest), io);
  } catch (error) {
    return reportError(error, command, io);
  }
}

function unknownCommand(name: string, io: CliIo): number {
  const group = CLI_COMMANDS.filter((c) => c.name.startsWith(`${name} `));
  if (group.length > 0) {
    const subcommands = group.map((c) => c.name.slice(name.length + 1)).join(', ');
    io.stderr.write(`confab ${name}: needs a subcommand: ${subcommands}. Run \`confab ${group[0].name} --help\`.\n`);
    return 2;
  }
  const known = CLI_COMMANDS.map((c) => c.name).join(', ');
  io.stderr.write(`confab: unknown command "${escapeTerminal(name)}". Commands: ${known}. Run \`confab --help\`.\n`);
  return 2;
}

function reportError(error: unknown, command: CliCommand, io: CliIo): number {
  const err = error as Error;
  if (err instanceof UsageError) {
    const sentence = /[.!?]$/.test(err.message) ? err.message : `${err.message}.`;
    io.stderr.write(`confab ${command.name}: ${sentence} Run \`confab ${command.name} --help\`.\n`);
    return 2;
  }
  if (err && OPERATOR_ERRORS.has(err.name)) {
    io.stderr.write(`confab ${command.name}: ${err.message}\n`);
    return 1;
  }
  io.stderr.write(`confab ${command.name} failed: ${err?.stack ?? String(error)}\n`);
  return 1;
}

/** The package's package.json: the nearest above this module, which runs from src/cli/ or, built, from dist/. */
function packageJsonPath(): string {
  for (let dir = import.meta.dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'package.json');
    if (existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`No package.json above ${import.meta.dirname}.`);
  }
}

function defaultIo(): CliIo {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env };
}
