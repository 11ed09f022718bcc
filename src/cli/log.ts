/**
 * The process log: one line per message on stderr, so a piped terminal session's stdout holds
 * only the session itself.
 */
import type { ChannelLog } from '../platforms';

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LEVELS)[number];

export function createLog(level: LogLevel, stream: NodeJS.WritableStream = process.stderr): ChannelLog {
  const threshold = LEVELS.indexOf(level);
  const write = (at: LogLevel) => (message: string) => {
    if (LEVELS.indexOf(at) < threshold) return;
    stream.write(`${new Date().toISOString()} ${at.padEnd(5)} ${message}\n`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}
