import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, formatRecord, guardPrompt, maskSecrets } from '../../src/log';

function capture(pretty: boolean) {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c.toString()));
  return { logger: createLogger({ stream, pretty, level: 'info' }), text: () => chunks.join(''), stream };
}

describe('maskSecrets', () => {
  it('hides every credential a URL can carry, and keeps the rest readable', () => {
    expect(maskSecrets('postgres://confab:hunter2@db:5432/confab')).toBe('postgres://confab:***@db:5432/confab');
    expect(maskSecrets('https://ghp_token@gpu.example/v1')).toBe('https://***@gpu.example/v1');
    expect(maskSecrets('http://w:8000/v1?api_key=abc&model=x&access_token=t1;sig=s')).toBe('http://w:8000/v1?api_key=***&model=x&access_token=***;sig=***');
    expect(maskSecrets('workers http://a:1?token=zz, http://u:p@b:2')).toBe('workers http://a:1?token=***, http://u:***@b:2');
    expect(maskSecrets('http://localhost:8477/health')).toBe('http://localhost:8477/health');
    expect(maskSecrets('no url here: a=b')).toBe('no url here: a=b');
  });

  it('is applied to every log record, message and error alike', () => {
    for (const pretty of [false, true]) {
      const { logger, text } = capture(pretty);
      logger.error({ err: new Error('fetch https://u:pw-1@gpu/v1?key=k-2 failed'), worker: 'http://x?token=t-3' }, 'calling http://u:pw-4@h');
      expect(text()).not.toMatch(/pw-1|k-2|t-3|pw-4/);
      expect(text()).toContain('https://u:***@gpu/v1?key=***');
    }
  });
});

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

  it('writes one human line per record on a terminal, inside a prompt guard that children share', () => {
    const { logger, text, stream } = capture(true);
    const order: string[] = [];
    stream.on('data', () => order.push('line'));
    const unguard = guardPrompt(logger, { beforeLine: () => order.push('clear'), afterLine: () => order.push('redraw') });
    logger.child({ name: 'dispatcher' }).error({ analysisId: 3 }, 'claim failed');
    expect(text()).toMatch(/^\d\d:\d\d:\d\d\.\d{3} error \[dispatcher\] claim failed analysisId=3\n$/);
    expect(order).toEqual(['clear', 'line', 'redraw']);
    logger.debug('below the level: no line, so no redraw either');
    unguard();
    logger.warn('after the guard is gone');
    expect(order).toEqual(['clear', 'line', 'redraw', 'line']);
  });

  it('leaves JSON records alone: they go to a file or a pipe, not onto a prompt', () => {
    const { logger, text } = capture(false);
    let calls = 0;
    guardPrompt(logger, { beforeLine: () => calls++, afterLine: () => calls++ });
    logger.warn('to a file');
    expect(JSON.parse(text()).msg).toBe('to a file');
    expect(calls).toBe(0);
  });

  it('passes through a line that is not JSON', () => {
    expect(formatRecord('plain')).toBe('plain\n');
  });
});
