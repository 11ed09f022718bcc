/**
 * The one logger for the whole program (bot, worker and CLI). pino writes JSON lines, which is
 * what a log shipper wants when stderr is a file or a pipe; on an interactive terminal the same
 * records are printed as short human lines instead. Every layer may import this module: it
 * depends on nothing of Confab's.
 *
 * The terminal channel's own output (prompts, results) is not logging and does not come here.
 */
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';

export type { Logger };
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export interface LoggerOptions {
  level?: LogLevel | 'silent';
  /** Where records go; stderr by default, so a piped terminal session's stdout holds only the session. */
  stream?: NodeJS.WritableStream;
  /** Human lines instead of JSON; defaults to whether the stream is a TTY. */
  pretty?: boolean;
}

/**
 * What an interactive prompt does around each human log line, so that the line lands above the
 * prompt instead of inside the text being typed: clear the prompt, then redraw it.
 */
export interface PromptGuard {
  beforeLine(): void;
  afterLine(): void;
}

const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const RESERVED = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name']);

/** Formats one pino JSON record as `HH:MM:SS.mmm LEVEL [name] message key=value …`. */
export function formatRecord(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const time = typeof record.time === 'number' ? new Date(record.time).toISOString().slice(11, 23) : '';
  const level = (LEVEL_NAMES[record.level as number] ?? String(record.level)).padEnd(5);
  const name = typeof record.name === 'string' ? `[${record.name}] ` : '';
  const extras = Object.entries(record)
    .filter(([key]) => !RESERVED.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  const message = typeof record.msg === 'string' ? record.msg : '';
  return `${time} ${level} ${name}${message}${extras.length ? ` ${extras.join(' ')}` : ''}\n`;
}

/** URL user-info (`//user:password@`, `//token@`). */
const USER_INFO = /([a-z][a-z0-9+.-]*:\/\/)([^\s/@:"'<>]+)(?::([^\s/@"'<>]*))?@/gi;
/** Query parameters that carry credentials: `?api_key=`, `&token=`, `access_token`, `sig`... */
const SECRET_PARAM = /([?&;][a-z0-9_.-]*(?:key|token|secret|passw(?:or)?d|pwd|auth|sig(?:nature)?|credential|session)[a-z0-9_.-]*=)([^&;,\s"'#<>]+)/gi;

/**
 * The one way credentials are hidden in anything printed: doctor, logs, errors. Replaces the
 * password (or a bare token) of every URL's user-info, and the value of every query parameter
 * whose name says it is a key, token, secret or signature, with `***`; the rest stays readable.
 */
export function maskSecrets(text: string): string {
  return text
    .replace(USER_INFO, (_all, scheme: string, user: string, password: string | undefined) =>
      password === undefined ? `${scheme}***@` : `${scheme}${user}:***@`,
    )
    .replace(SECRET_PARAM, (_all, name: string) => `${name}***`);
}

/** Every record passes here, so no caller can log a credential by putting a URL in a message or an error. */
function maskingStream(target: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      target.write(maskSecrets(chunk.toString()));
      callback();
    },
  });
}

/** Human lines for a terminal; a prompt on that terminal guards itself through `guard`. */
class HumanLines extends Writable {
  guard: PromptGuard | undefined;
  constructor(private readonly target: NodeJS.WritableStream) {
    super();
  }
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const lines = maskSecrets(chunk.toString()).split('\n').filter(Boolean);
    if (lines.length > 0) {
      this.guard?.beforeLine();
      for (const line of lines) this.target.write(formatRecord(line));
      this.guard?.afterLine();
    }
    callback();
  }
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const stream = options.stream ?? process.stderr;
  const pretty = options.pretty ?? Boolean((stream as { isTTY?: boolean }).isTTY);
  const destination = pretty ? new HumanLines(stream) : maskingStream(stream);
  return pino({ level: options.level ?? 'info', base: undefined }, destination);
}

/**
 * Routes the human log lines of `logger` (and of its children, which share its destination)
 * around an interactive prompt until the returned function is called. JSON records are left
 * alone: they go to a file or a pipe, never onto the prompt's line.
 */
export function guardPrompt(logger: Logger, guard: PromptGuard): () => void {
  const destination = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym];
  if (!(destination instanceof HumanLines)) return () => undefined;
  destination.guard = guard;
  return () => {
    if (destination.guard === guard) destination.guard = undefined;
  };
}

/** A logger that drops everything: the default for library code called without one. */
export const silentLogger: Logger = pino({ level: 'silent' });
