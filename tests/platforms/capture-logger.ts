/** A real pino logger whose records a test can read: every line, and the errors alone. */
import { Writable } from 'node:stream';
import { createLogger, formatRecord, type Logger } from '../../src/log';

export interface CapturedLog {
  logger: Logger;
  /** Every record, as the human one-line format prints it. */
  lines: string[];
  /** Records at level error and above. */
  errors: string[];
}

export function captureLogger(options: { echoWarnings?: boolean } = {}): CapturedLog {
  const lines: string[] = [];
  const errors: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      for (const json of chunk.toString().split('\n')) {
        if (!json) continue;
        const line = formatRecord(json).trimEnd();
        lines.push(line);
        const level = (JSON.parse(json) as { level: number }).level;
        if (level >= 50) errors.push(line);
        else if (level >= 40 && options.echoWarnings) console.warn(line);
      }
      callback();
    },
  });
  return { logger: createLogger({ level: 'debug', stream, pretty: false }), lines, errors };
}
