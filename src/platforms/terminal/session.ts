/**
 * The terminal channel: lines in, command calls through the core, rendered views out.
 *
 * Two modes, chosen by whether input is a TTY:
 * - interactive: a prompt, colour when the terminal supports it, results of long analyses
 *   printed above the prompt as soon as they arrive;
 * - piped: one command per line, processed in order, each analysis awaited before the next
 *   line (so a script can vote on `#1` on the line after `/explain`), plain text, and exit at
 *   end of input once every pending analysis has finished.
 */
import { createInterface, type Interface } from 'node:readline';
import type { CommandDefinition, CommandResult, ParsedOptions } from '../../../commands/types';
import type { Actor } from '../../core/actor';
import type { Services, AnalysisFinishedEvent } from '../../core/services';
import type { View } from '../../core/view';
import { guardPrompt, type Logger } from '../../log';
import type { InvokeCommand, RunningChannel } from '../channel';
import { escapeTerminal } from './escape';
import { flagName, parseLine, positionalOptions, TERMINAL_COMMANDS, usageLine, type ParsedLine } from '../text-command';
import { renderView } from './render';
import { printDigest } from './digest';
import { clearPrompt, redrawPrompt } from './prompt-area';

export interface TerminalSessionOptions {
  services: Services;
  commands: readonly CommandDefinition[];
  invoke: InvokeCommand;
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** The reviewer to act as at first (`--as`); `/as` changes it. */
  reviewer: string;
  /** Local admin rights for admin-only commands (`--admin`). */
  isAdmin: boolean;
  interactive: boolean;
  color: boolean;
  logger: Logger;
  /**
   * Resolves when the process has no queued or running terminal analysis, including ones
   * resumed from an earlier run, with the ids of those that were pending. Piped sessions wait
   * on it at end of input, then for the finished event of each of those ids.
   */
  whenIdle?: () => Promise<number[]>;
}

const WORKSPACE = 'local';
const CHANNEL = 'terminal';

/** Reviewer names typed on the terminal: letters, digits, `.`, `_`, `-`; 1 to 64 of them. */
export function checkReviewerName(name: string): string | null {
  if (/^[\p{L}\p{N}._-]{1,64}$/u.test(name)) return null;
  return `Reviewer name "${escapeTerminal(name)}" is not allowed; use 1 to 64 letters, digits, ".", "_" or "-".`;
}

/** Whether an output stream should get colour: a TTY that has colours, and NO_COLOR unset. */
export function supportsColor(output: NodeJS.WritableStream, env: Record<string, string | undefined>): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  const tty = output as NodeJS.WriteStream;
  if (!tty.isTTY) return false;
  return typeof tty.hasColors === 'function' ? tty.hasColors(env) : true;
}

export function startTerminalSession(opts: TerminalSessionOptions): RunningChannel {
  const commands = new Map(opts.commands.map((definition) => [definition.name, definition]));
  const style = { color: opts.color };
  let actor: Actor = makeActor(opts.reviewer, opts.isAdmin);
  /** Analyses this session asked for; their results arrive through followUp, not the event. */
  const ownAnalyses = new Set<number>();
  /** Their follow-ups being shown: the core marks a result posted once it is on screen. */
  const ownFollowUps = new Map<number, Promise<void>>();
  const pending = new Set<Promise<void>>();
  let inFlight: Promise<unknown> = Promise.resolve();
  /** The command call in progress, until it returns its first view. */
  let invoking: Promise<unknown> = Promise.resolve();
  let closed = false;
  /** A typed line is being handled (interactive mode redraws the prompt after it). */
  let handling = false;

  const rl: Interface = createInterface({
    input: opts.input,
    output: opts.interactive ? opts.output : undefined,
    terminal: opts.interactive,
    prompt: promptText(),
  });

  function promptText(): string {
    return `confab (${actor.displayName})> `;
  }

  /** The prompt is on screen: not while a typed line is handled (the loop shows it after). */
  const promptShown = () => opts.interactive && !closed && !handling;

  function print(text: string): void {
    if (promptShown()) {
      // Above the prompt, which is drawn again with what was typed so far.
      clearPrompt(rl, opts.output);
      opts.output.write(`${text}\n\n`);
      redrawPrompt(rl, opts.output);
    } else {
      opts.output.write(`${text}\n\n`);
    }
  }

  // Log lines on the terminal go above the prompt too, never into the text being typed.
  const unguardPrompt = opts.interactive
    ? guardPrompt(opts.logger, {
        beforeLine: () => promptShown() && clearPrompt(rl, opts.output),
        afterLine: () => promptShown() && redrawPrompt(rl, opts.output),
      })
    : () => undefined;

  function show(view: View): void {
    print(renderView(view, style));
  }

  function track(work: Promise<void>): void {
    pending.add(work);
    void work.finally(() => pending.delete(work));
  }

  /** Analyses whose finished event has arrived, and who waits for which. */
  const announced = new Set<number>();
  let onAnnounced: (() => void) | null = null;

  const unsubscribe = opts.services.events.onAnalysisFinished((event: AnalysisFinishedEvent) => {
    if (event.platform !== 'terminal') return;
    announced.add(event.analysisId);
    // followUpPending: a command awaits it (here or in another process) and shows it itself.
    if (ownAnalyses.has(event.analysisId) || event.followUpPending) {
      onAnnounced?.();
      return ownFollowUps.get(event.analysisId);
    }
    // Wait for the command being invoked, so an analysis it just queued is known as ours (not
    // for its follow-up: that may wait on a result this very dispatcher loop reports next). The
    // returned promise tells the core when the result is on screen.
    return invoking.then(() => {
      if (!ownAnalyses.has(event.analysisId)) show(event.view);
      onAnnounced?.();
      return ownFollowUps.get(event.analysisId);
    });
  }, 'terminal');

  const stopDigests = opts.services.events.onDigest('terminal', (event) => printDigest(event, opts.services.config.dataDir, print));

  /**
   * The database can say an analysis is done a moment before the dispatcher has announced it;
   * wait for the announcements (bounded, in case another process finished one of them).
   */
  async function waitForAnnouncements(ids: number[], timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (ids.some((id) => !announced.has(id) && !ownAnalyses.has(id)) && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 250);
        onAnnounced = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      onAnnounced = null;
    }
    await inFlight;
  }

  async function handle(parsed: ParsedLine): Promise<'quit' | void> {
    switch (parsed.kind) {
      case 'empty':
        return;
      case 'error':
        show({ kind: 'error', code: 'terminal_syntax', message: parsed.message });
        return;
      case 'terminal':
        return handleTerminalCommand(parsed.name, parsed.argument);
      case 'command':
        return runCommand(parsed.name, parsed.options);
    }
  }

  async function handleTerminalCommand(name: keyof typeof TERMINAL_COMMANDS, argument: string): Promise<'quit' | void> {
    if (name === 'quit') return 'quit';
    if (name === 'help') {
      show(await helpView(argument));
      return;
    }
    const problem = argument === '' ? 'Usage: /as NAME' : checkReviewerName(argument);
    if (problem) {
      show({ kind: 'error', code: 'bad_reviewer_name', message: problem });
      return;
    }
    actor = makeActor(argument, opts.isAdmin);
    rl.setPrompt(promptText());
    show({ kind: 'message', lines: [`Now acting as ${argument}.`] });
  }

  async function runCommand(name: string, options: ParsedOptions): Promise<void> {
    let result: CommandResult;
    try {
      const call = opts.invoke(opts.services, actor, name, options);
      invoking = call.catch(() => undefined);
      result = await call;
    } catch (error) {
      // invokeCommand answers user errors with an ErrorView; a throw is a fault of ours.
      opts.logger.error({ err: error }, `/${name} failed`);
      show({ kind: 'error', code: 'internal', message: `/${name} failed inside Confab; the details are in the log.` });
      return;
    }
    if (result.view.kind === 'analysis') ownAnalyses.add(result.view.analysisId);
    show(result.view);
    if (result.followUp) {
      const followUp = result.followUp.then(show, (error: unknown) => {
        opts.logger.error({ err: error }, `/${name} follow-up failed`);
        show({ kind: 'error', code: 'internal', message: `/${name} did not finish; the details are in the log.` });
      });
      track(followUp);
      if (result.view.kind === 'analysis') {
        const analysisId = result.view.analysisId;
        ownFollowUps.set(analysisId, followUp);
        void followUp.finally(() => ownFollowUps.get(analysisId) === followUp && ownFollowUps.delete(analysisId));
      }
      // Piped sessions run line by line, so the next line can refer to this result's ids.
      if (!opts.interactive) await followUp;
    }
  }

  async function helpView(argument: string): Promise<View> {
    const wanted = argument.replace(/^\//, '').toLowerCase();
    if (wanted !== '') {
      const definition = commands.get(wanted);
      if (definition) {
        const live = (await definition.liveLimits?.(opts.services).catch(() => undefined)) ?? {};
        const lines = [definition.description, `Usage: ${usageLine(definition)}`];
        const positional = new Set(positionalOptions(definition));
        const shown = definition.options.map((option) => (positional.has(option) ? `<${option.name}>` : flagName(option)));
        const width = Math.max(0, ...shown.map((name) => name.length));
        definition.options.forEach((option, i) => {
          const limits: string[] = [];
          if (option.choices) limits.push(`one of ${option.choices.join(', ')}`);
          const { min, max } = live[option.name] ?? option;
          if (min !== undefined || max !== undefined) limits.push(`${min ?? '…'} to ${max ?? '…'}`);
          if (option.required) limits.push('required');
          lines.push(`  ${shown[i].padEnd(width)}  ${option.description}${limits.length ? ` (${limits.join('; ')})` : ''}`);
        });
        lines.push(...(definition.notes ?? []));
        if (definition.adminOnly) lines.push('Admin only: start the session with --admin.');
        return { kind: 'message', title: `/${definition.name}`, lines };
      }
      const terminal = TERMINAL_COMMANDS[wanted as keyof typeof TERMINAL_COMMANDS];
      if (terminal) return { kind: 'message', title: terminal.usage, lines: [terminal.description] };
      return { kind: 'error', code: 'unknown_command', message: `No command "/${wanted}". Type /help for the list.` };
    }
    const lines: string[] = [];
    for (const definition of commands.values()) lines.push(`  ${usageLine(definition)}`, `      ${definition.description}`);
    for (const terminal of Object.values(TERMINAL_COMMANDS)) lines.push(`  ${terminal.usage}`, `      ${terminal.description}`);
    lines.push('Explanation ids are shown as #12; type them as #12 or 12. Lines starting with "# " are comments.');
    return { kind: 'message', title: 'Commands', lines };
  }

  const finished = (async () => {
    if (opts.interactive) {
      print(`Confab local review session, acting as ${actor.displayName}${opts.isAdmin ? ' (admin)' : ''}. Type /help for commands, /quit to leave.`);
      rl.on('SIGINT', () => rl.close());
    }
    try {
      for await (const line of rl) {
        if (!opts.interactive && line.trim() !== '') opts.output.write(`> ${escapeTerminal(line.trim())}\n`);
        handling = true;
        const handled = handle(parseLine(line, commands));
        inFlight = handled.catch(() => undefined);
        const outcome = await handled;
        handling = false;
        if (outcome === 'quit') break;
        if (opts.interactive) rl.prompt();
      }
    } finally {
      closed = true;
      rl.close();
    }
    if (!opts.interactive) {
      // End of input: let every analysis finish, ours and any resumed from an earlier run.
      await Promise.allSettled([...pending]);
      if (opts.whenIdle) await waitForAnnouncements(await opts.whenIdle());
      await inFlight;
    } else if (pending.size > 0) {
      const running = pending.size === 1 ? 'One analysis is still running; it resumes' : `${pending.size} analyses are still running; they resume`;
      opts.output.write(`${running} the next time Confab starts.\n`);
    }
    unguardPrompt();
    unsubscribe();
    stopDigests();
  })();

  return {
    finished,
    async stop() {
      if (!closed) {
        closed = true;
        rl.close();
      }
      unguardPrompt();
      unsubscribe();
      stopDigests();
    },
  };
}

function makeActor(name: string, isAdmin: boolean): Actor {
  return { platform: 'terminal', workspaceId: WORKSPACE, channelId: CHANNEL, userId: name, displayName: name, isAdmin };
}
