/**
 * An interactive session's prompt while other output arrives: log records and results that
 * finish in the background print above the prompt, the prompt (wrapped over two rows here)
 * is drawn once, and what the user was typing stays typed. Readline runs in terminal mode
 * over a PassThrough that stands in for a 60-column TTY; `Screen` shows what the user sees.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { allCommands } from '../../../commands';
import { loadConfig } from '../../../src/config';
import { EventHub } from '../../../src/core/events';
import type { Services } from '../../../src/core/services';
import { createLogger } from '../../../src/log';
import { startTerminalSession } from '../../../src/platforms/terminal/session';
import { doneAnalysis } from './fixtures';
import { Screen } from './screen';

const COLUMNS = 60;
const PROMPT = 'confab (alice)> ';

/** Resolves once `condition` holds; output travels through stream events, so poll each turn. */
async function until(condition: () => boolean, what: () => string): Promise<void> {
  for (let turn = 0; turn < 10_000; turn++) {
    if (condition()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`never happened: ${what()}`);
}

function interactiveSession() {
  const hub = new EventHub(() => {});
  const services = { config: loadConfig({}), events: hub, close: async () => {} } as Partial<Services> as Services;
  const input = new PassThrough();
  const output = Object.assign(new PassThrough(), { columns: COLUMNS, isTTY: true });
  const screen = new Screen(COLUMNS);
  output.on('data', (chunk) => screen.write(String(chunk)));
  // Log records reach the same terminal, as stderr and stdout share one on a real TTY.
  const logger = createLogger({ stream: output, pretty: true, level: 'info' });
  const channel = startTerminalSession({
    services,
    commands: allCommands,
    invoke: async () => ({ view: { kind: 'message', lines: ['unused'] } }),
    input,
    output,
    reviewer: 'alice',
    isAdmin: false,
    interactive: true,
    color: false,
    logger,
  });
  const shows = (text: string) => screen.text().join('\n').includes(text);
  return { hub, input, screen, logger, channel, shows };
}

/** Rows from the one that starts with the prompt, joined back into the line typed there. */
function promptRows(screen: Screen): { first: number; typed: string } {
  const rows = screen.text();
  const starts = rows.flatMap((row, i) => (row.startsWith(PROMPT) ? [i] : []));
  expect(starts, rows.join('\n')).toHaveLength(1);
  return { first: starts[0], typed: rows.slice(starts[0]).join('') };
}

describe('interactive prompt', () => {
  it('prints log records and background results above the prompt, drawn once, with the typed text intact', async () => {
    const s = interactiveSession();
    // The screen's rows end without trailing spaces.
    await until(() => s.shows(PROMPT.trimEnd()), () => s.screen.text().join('\n'));

    // Long enough to wrap: the prompt and the typed text take two rows.
    const name = 'b'.repeat(50);
    s.input.write(`/as ${name}`);
    const typed = `${PROMPT}/as ${name}`;
    await until(() => s.screen.text().join('').includes(typed), () => s.screen.text().join('\n'));
    expect(typed.length).toBeGreaterThan(COLUMNS);

    s.logger.warn({ analysisId: 4 }, 'worker slow');
    s.logger.error('worker gone');
    await until(() => s.shows('worker gone'), () => s.screen.text().join('\n'));
    await s.hub.emitAnalysisFinished({ analysisId: 9, platform: 'terminal', workspaceId: 'local', channelId: 'terminal', messageRef: null, view: { ...doneAnalysis(), analysisId: 9 } });
    await until(() => s.shows('Analysis 9'), () => s.screen.text().join('\n'));

    const rows = s.screen.text();
    const slow = rows.findIndex((row) => /^\d\d:\d\d:\d\d\.\d{3} warn {2}worker slow analysisId=4$/.test(row));
    const gone = rows.findIndex((row) => /^\d\d:\d\d:\d\d\.\d{3} error worker gone$/.test(row));
    const result = rows.findIndex((row) => row.startsWith('Analysis 9 · done'));
    const prompt = promptRows(s.screen);
    expect(slow, rows.join('\n')).toBeGreaterThan(0);
    expect(gone).toBe(slow + 1);
    expect(result).toBeGreaterThan(gone);
    expect(prompt.first).toBeGreaterThan(result);
    expect(prompt.typed).toBe(typed);
    // The cursor is where the typing left off: at the end of the typed text.
    expect(s.screen.cursor()).toEqual({ row: prompt.first + Math.floor(typed.length / COLUMNS), col: typed.length % COLUMNS });

    // Finishing the line runs it as typed before the interruptions.
    s.input.write('x\r');
    await until(() => s.screen.text().join('').includes(`Now acting as ${name}x.`), () => s.screen.text().join('\n'));
    s.input.write('/quit\r');
    await s.channel.finished;
  });
});
