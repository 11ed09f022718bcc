/**
 * The terminal session against view-model fixtures: a scripted `invoke` stands in for the
 * command layer (the end-to-end tests in tests/e2e drive the real one), and the real EventHub
 * delivers finished analyses.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { CommandResult, ParsedOptions } from '../../../commands/types';
import type { Actor } from '../../../src/core/actor';
import { allCommands } from '../../../commands';
import { loadConfig } from '../../../src/config';
import { EventHub } from '../../../src/core/events';
import type { Services } from '../../../src/core/services';
import type { View } from '../../../src/core/view';
import type { InvokeCommand } from '../../../src/platforms/channel';
import { startTerminalSession, checkReviewerName, supportsColor } from '../../../src/platforms/terminal/session';
import { captureLogger } from '../capture-logger';
import { doneAnalysis } from './fixtures';

interface Call {
  actor: Actor;
  name: string;
  options: ParsedOptions;
  at: number;
}

function harness(respond: (name: string, options: ParsedOptions, actor: Actor) => CommandResult | Promise<CommandResult>, whenIdle?: () => Promise<number[]>) {
  const hub = new EventHub(() => {});
  const services = { config: loadConfig({}), events: hub, close: async () => {} } as Partial<Services> as Services;
  const calls: Call[] = [];
  const invoke: InvokeCommand = async (_services, actor, name, options) => {
    calls.push({ actor, name, options, at: Date.now() });
    return respond(name, options, actor);
  };
  const input = new PassThrough();
  const output = new PassThrough();
  let text = '';
  output.on('data', (chunk) => (text += String(chunk)));
  const { logger, errors } = captureLogger();
  const channel = startTerminalSession({
    services,
    commands: allCommands,
    invoke,
    input,
    output,
    reviewer: 'alice',
    isAdmin: false,
    interactive: false,
    color: false,
    logger,
    whenIdle,
  });
  return { hub, calls, input, channel, errors, output: () => text };
}

const queued = (): View => ({ ...doneAnalysis(), status: 'queued', model: '', layer: -1, positions: [], tokens: [] });
const ack = (id: number): View => ({
  kind: 'vote-ack',
  explanationId: id,
  myVote: 'faithful',
  change: 'recorded',
  tally: { faithful: 1, confabulated: 0, unsure: 0 },
  closedNow: false,
  state: 'open',
});
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
async function waitUntil(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await delay(10);
  }
}

describe('piped terminal session', () => {
  it('runs lines in order, waiting for each analysis before the next line', async () => {
    let analysisDoneAt = 0;
    const h = harness((name) => {
      if (name === 'explain') {
        return { view: queued(), followUp: delay(80).then(() => ((analysisDoneAt = Date.now()), doneAnalysis() as View)) };
      }
      return { view: ack(12), ephemeral: true };
    });
    h.input.end('/explain Hola mundo\n/vote #12 faithful\n');
    await h.channel.finished;
    expect(h.calls.map((c) => c.name)).toEqual(['explain', 'vote']);
    expect(h.calls[1].at).toBeGreaterThanOrEqual(analysisDoneAt);
    expect(h.calls[0].options).toEqual({ prompt: 'Hola mundo' });
    expect(h.calls[1].options).toEqual({ explanation: '#12', label: 'faithful' });
    const out = h.output();
    const order = ['> /explain Hola mundo', 'Analysis 7 · queued', 'Analysis 7 · done', '#12', '> /vote #12 faithful', 'Vote recorded on #12'];
    let at = -1;
    for (const piece of order) {
      const next = out.indexOf(piece, at + 1);
      expect(next, piece).toBeGreaterThan(at);
      at = next;
    }
    expect(out).not.toMatch(/\x1b/);
  });

  it('switches reviewer with /as and refuses names that are not names', async () => {
    const h = harness(() => ({ view: { kind: 'message', lines: ['ok'] } }));
    h.input.end('/stats\n/as bob\n/stats\n/as bad name!\n/stats\n');
    await h.channel.finished;
    expect(h.calls.map((c) => c.actor.userId)).toEqual(['alice', 'bob', 'bob']);
    expect(h.calls[1].actor).toMatchObject({ platform: 'terminal', workspaceId: 'local', displayName: 'bob', isAdmin: false });
    expect(h.output()).toContain('Now acting as bob.');
    expect(h.output()).toMatch(/Error: Reviewer name "bad name!" is not allowed/);
  });

  it('prints results of analyses it did not ask for (resumed after a restart) once, and ignores other platforms', async () => {
    let release!: (ids: number[]) => void;
    const idle = new Promise<number[]>((resolve) => (release = resolve));
    const h = harness(() => ({ view: { kind: 'message', lines: ['ok'] } }), () => idle);
    h.input.end('');
    await delay(30);
    await h.hub.emitAnalysisFinished({ analysisId: 7, platform: 'terminal', workspaceId: 'local', channelId: 'terminal', messageRef: null, view: doneAnalysis() });
    await h.hub.emitAnalysisFinished({ analysisId: 8, platform: 'discord', workspaceId: 'g', channelId: 'c', messageRef: null, view: { ...doneAnalysis(), analysisId: 8 } });
    release([7]);
    await h.channel.finished;
    const out = h.output();
    expect(out.match(/Analysis 7 · done/g)).toHaveLength(1);
    expect(out).not.toContain('Analysis 8');
  });

  it('waits at end of input for an analysis the database already shows done but that is not announced yet', async () => {
    const h = harness(() => ({ view: { kind: 'message', lines: ['ok'] } }), async () => [9]);
    h.input.end('');
    let finished = false;
    void h.channel.finished!.then(() => (finished = true));
    await delay(100);
    expect(finished).toBe(false);
    await h.hub.emitAnalysisFinished({ analysisId: 9, platform: 'terminal', workspaceId: 'local', channelId: 'terminal', messageRef: null, view: { ...doneAnalysis(), analysisId: 9 } });
    await h.channel.finished;
    expect(h.output()).toContain('Analysis 9 · done');
  });

  it('does not print its own analysis twice when the finished event also arrives', async () => {
    const h = harness((name) => {
      if (name !== 'explain') return { view: ack(12) };
      // As the core does: the event goes out beside the follow-up, which does not wait for its listeners.
      const followUp = delay(20).then(() => {
        void h.hub.emitAnalysisFinished({ analysisId: 7, platform: 'terminal', workspaceId: 'local', channelId: 'terminal', messageRef: null, view: doneAnalysis() });
        return doneAnalysis() as View;
      });
      return { view: queued(), followUp };
    });
    h.input.end('/explain Hola mundo\n');
    await h.channel.finished;
    expect(h.output().match(/Analysis 7 · done/g)).toHaveLength(1);
  });

  it("holds its own analysis's finished event until the follow-up is on screen, so the core marks it posted only then", async () => {
    let answer!: (view: View) => void;
    const h = harness((name) => (name === 'explain' ? { view: queued(), followUp: new Promise<View>((resolve) => (answer = resolve)) } : { view: ack(12) }));
    h.input.write('/explain Hola mundo\n');
    await waitUntil(() => answer !== undefined && h.output().includes('Analysis 7'));
    let listenersDone = false;
    const emitted = h.hub.emitAnalysisFinished({ analysisId: 7, platform: 'terminal', workspaceId: 'local', channelId: 'terminal', messageRef: null, view: doneAnalysis(), followUpPending: true });
    void emitted.then(() => (listenersDone = true));
    await delay(100);
    expect(listenersDone).toBe(false);
    answer(doneAnalysis());
    await emitted;
    expect(h.output()).toContain('Analysis 7 · done');
    h.input.end('');
    await h.channel.finished;
  });

  it('reports a fault in the command layer without leaving the session', async () => {
    const h = harness((name) => {
      if (name === 'stats') throw new Error('database exploded');
      return { view: { kind: 'message', lines: ['still here'] } };
    });
    h.input.end('/stats\n/review\n');
    await h.channel.finished;
    expect(h.output()).toContain('Error: /stats failed inside Confab; the details are in the log.');
    expect(h.output()).toContain('still here');
    expect(h.output()).not.toContain('database exploded');
    expect(h.errors.join('\n')).toContain('database exploded');
  });

  it('answers syntax errors and help itself, and stops at /quit', async () => {
    const h = harness(() => ({ view: { kind: 'message', lines: ['ran'] } }));
    h.input.end('explain without slash\n/help vote\n/help explain\n/quit\n/stats\n');
    await h.channel.finished;
    expect(h.calls).toHaveLength(0);
    const out = h.output();
    expect(out).toContain('Commands start with "/"');
    expect(out).toContain('Usage: /vote');
    expect(out).toContain('one of faithful, confabulated, unsure');
    expect(out).toContain('fve_nrm, 1 is perfect, 0 is as good as predicting the mean, below 0 is worse than that.');
    expect(out).not.toContain('ran');
  });
});

describe('terminal help follows the model', () => {
  async function helpFor(backend: Services['backend']): Promise<string> {
    const hub = new EventHub(() => {});
    const services = { config: loadConfig({}), events: hub, backend, close: async () => {} } as Partial<Services> as Services;
    const input = new PassThrough();
    const output = new PassThrough();
    let text = '';
    output.on('data', (chunk) => (text += String(chunk)));
    const { logger } = captureLogger();
    const channel = startTerminalSession({
      services,
      commands: allCommands,
      invoke: async () => ({ view: { kind: 'message', lines: ['ran'] } }),
      input,
      output,
      reviewer: 'alice',
      isAdmin: false,
      interactive: false,
      color: false,
      logger,
    });
    input.end('/help explain\n');
    await channel.finished;
    return text;
  }

  it("shows --position within the model's context", async () => {
    const backend = { analyze: async () => Promise.reject(new Error('unused')), capabilities: async () => ({ model: 'm', max_tokens: 128, max_prompt_chars: 127 }) };
    const out = await helpFor(backend);
    expect(out).toMatch(/--position .*\(-128 to 127\)/);
    expect(out).not.toContain('4,096');
    expect(out).not.toContain('4096');
  });

  it('keeps the declared range when the model does not say', async () => {
    const down = { analyze: async () => Promise.reject(new Error('unused')), capabilities: async () => Promise.reject(new Error('connect ECONNREFUSED')) };
    expect(await helpFor(down)).toMatch(/--position .*\(-4096 to 4095\)/);
    expect(await helpFor(null)).toMatch(/--position .*\(-4096 to 4095\)/);
  });
});

describe('terminal helpers', () => {
  it('accepts reviewer names of letters, digits, dot, dash and underscore', () => {
    expect(checkReviewerName('alice')).toBeNull();
    expect(checkReviewerName('José.M-2_x')).toBeNull();
    expect(checkReviewerName('')).toMatch(/not allowed/);
    expect(checkReviewerName('a'.repeat(65))).toMatch(/1 to 64/);
    expect(checkReviewerName('eve\x1b[2J')).toMatch(/\\x1b/);
  });

  it('uses colour only on a TTY, and never with NO_COLOR', () => {
    const tty = Object.assign(new PassThrough(), { isTTY: true, hasColors: () => true });
    expect(supportsColor(tty, {})).toBe(true);
    expect(supportsColor(tty, { NO_COLOR: '1' })).toBe(false);
    expect(supportsColor(new PassThrough(), {})).toBe(false);
  });
});
