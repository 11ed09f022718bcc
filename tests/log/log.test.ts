import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, formatRecord } from '../../src/log';

function capture(pretty: boolean, afterLine?: () => void) {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c.toString()));
  return { logger: createLogger({ stream, pretty, afterLine, level: 'info' }), text: () => chunks.join('') };
}

describe('logger', () => {
  it('writes JSON lines with level, time and fields when not pretty', () => {
    const { logger, text } = capture(false);
    logger.warn({ analysisId: 7 }, 'worker slow');
    logger.debug('hidden below the level');
    const lines = text().trim().split('\n');
    expect(lines).toHaveLength(1);
    const record = JSON.parse(lines[0]!);
    expect(record).toMatchObject({ level: 40, msg: 'worker slow', analysisId: 7 });
    expect(typeof record.time).toBe('number');
  });

  it('writes one human line per record on a terminal, and calls afterLine for a prompt redraw', () => {
    let redraws = 0;
    const { logger, text } = capture(true, () => redraws++);
    logger.child({ name: 'dispatcher' }).error({ analysisId: 3 }, 'claim failed');
    expect(text()).toMatch(/^\d\d:\d\d:\d\d\.\d{3} error \[dispatcher\] claim failed analysisId=3\n$/);
    expect(redraws).toBe(1);
  });

  it('passes through a line that is not JSON', () => {
    expect(formatRecord('plain')).toBe('plain\n');
  });
});
