/**
 * `confab start` (what `npm start` runs): one process with the database, the dispatcher, the
 * embedded inference worker (unless WORKER_URLS names external ones) and the channels the
 * configuration enables, or the terminal channel when none is (or with --local).
 *
 * Start order: the inference backend begins to load, the services open the database meanwhile,
 * then the channels start, while the models may still be loading: analyses (resumed ones too)
 * wait for the backend, and the terminal says so. Shutdown runs it backwards, except that the
 * terminal stops last so that results still print. A backend that fails to load stops the start.
 */
import { userInfo } from 'node:os';
import { loadConfig, loadDotEnv, type Config } from '../config';
import type { Services } from '../core/services';
import { createJudge } from '../inference/judge';
import { createLogger, type Logger } from '../log';
import { enabledChatChannels, type RunningChannel } from '../platforms';
import { terminalChannel } from '../platforms/terminal';
import { checkReviewerName, supportsColor } from '../platforms/terminal/session';
import { onShutdownSignal } from './signals';
import { UsageError, type CliArgs, type CliCommand, type CliIo } from './spec';
import { startingBackend, type LoadedBackend } from './starting-backend';

/** Shown when /explain is queued before the models have loaded. */
export const WORKER_STARTING_NOTICE = 'The worker is starting (loading the models); the analysis is queued and runs as soon as it is ready.';

export const startCommand: CliCommand = {
  name: 'start',
  summary: 'Start Confab: the chat channels the environment configures, or a local terminal session.',
  options: {
    local: { type: 'boolean', description: 'Use the terminal channel even when a chat channel (Discord) is configured.' },
    as: { type: 'string', valueName: 'NAME', description: 'Review as this reviewer in the terminal (default: your login name). /as NAME switches later.' },
    admin: { type: 'boolean', description: 'Give the terminal reviewer admin rights (for /settings).' },
  },
  details: [
    'Piped input runs one command per line and exits at end of input, after pending analyses finish:',
    '  printf "/explain The quick brown fox\\n/vote #1 faithful\\n" | confab start --local --as alice',
    'The embedded worker runs in-process unless WORKER_URLS is set. Stop with Ctrl-C or SIGTERM;',
    'analyses still queued resume at the next start.',
  ],
  run: (args, io) => runStart(args, io, createBackend),
};

/** `confab start`, with the backend loader given: a test holds the load back to see the start without it. */
export async function runStart({ values }: CliArgs, io: CliIo, loadBackend: (config: Config, log: Logger) => Promise<LoadedBackend>): Promise<number> {
  loadDotEnv();
  const config = loadConfig(io.env);
  const reviewer = typeof values.as === 'string' ? values.as : defaultReviewerName(io.env);
  const badName = checkReviewerName(reviewer);
  if (badName) throw new UsageError(badName, 'start');

  const chatChannels = values.local ? [] : enabledChatChannels(io.env);
  const useTerminal = chatChannels.length === 0;
  const interactive = useTerminal && (io.stdin as NodeJS.ReadStream).isTTY === true;
  // Info lines on stderr would interleave with an interactive prompt; keep them for warnings
  // unless the operator asked for a level.
  const logLevel = interactive && !io.env.CONFAB_LOG_LEVEL ? 'warn' : config.logLevel;
  const log = createLogger({ level: logLevel, stream: io.stderr });

  // Set once the embedded worker runs here: from then on a second signal must not exit, since
  // ONNX Runtime aborts the process (134) when torn down inside a run on an engine thread.
  let hurryEngine: (() => void) | undefined;
  const shutdown = onShutdownSignal(log, {
    onRepeat(signal) {
      if (!hurryEngine) process.exit(130);
      log.warn(`${signal} received again; stopping the running analyses at their next step, then exiting.`);
      hurryEngine();
    },
  });
  const stack = new ShutdownStack(log);
  try {
    const loading = loadBackend(config, log).then((loaded) => {
      hurryEngine = loaded.hurry?.bind(loaded);
      return loaded;
    });
    const backend = startingBackend(loading, 'inference worker (starting)');
    let loadFailed = false;
    const loadFailure = backend.ready.then(
      () => new Promise<never>(() => {}),
      (error: unknown) => {
        loadFailed = true;
        throw error;
      },
    );
    loadFailure.catch(() => {});
    // Loaded before the services start: the dispatcher resumes interrupted analyses at once,
    // and the terminal must be listening before the first of them can finish (an event
    // emitted before anyone listens is not replayed).
    const [{ createServices }, { invokeCommand }, { allCommands }] = await Promise.all([
      import('../core/app'),
      import('../../commands/invoke'),
      import('../../commands'),
    ]);
    let services: Services;
    try {
      services = await createServices(config, { backend, judge: createJudge(config.judge, { logger: log }), logger: log });
    } catch (error) {
      await backend.close();
      throw error;
    }
    // Closing the services closes the backend too (and with it the embedded worker).
    stack.push('services', () => services.close());
    if (loadFailed) await loadFailure;

    const channels: RunningChannel[] = [];
    if (useTerminal) {
      // The session subscribes inside this call, before anything awaits: see above.
      const terminal = await terminalChannel.start({
        services,
        logger: log,
        config: {
          commands: allCommands,
          invoke: async (...call) => {
            const result = await invokeCommand(...call);
            if (backend.starting && result.view.kind === 'analysis' && result.view.status === 'queued') {
              // Piped output stays the same however fast the models load; a person sees why it waits.
              (interactive ? io.stdout : io.stderr).write(`${WORKER_STARTING_NOTICE}\n${interactive ? '\n' : ''}`);
            }
            return result;
          },
          input: io.stdin,
          output: io.stdout,
          reviewer,
          isAdmin: values.admin === true,
          interactive,
          color: interactive && supportsColor(io.stdout, io.env),
          whenIdle: () => whenNoTerminalAnalysisPending(services, shutdown.signalled),
        },
      });
      // The terminal stops last: results that finish while the services close still print.
      stack.pushBottom('terminal', () => terminal.stop());
      channels.push(terminal);
    }
    for (const { module, config: channelConfig } of chatChannels) {
      const channel = await module.start({ services, config: channelConfig, logger: log });
      log.info(`${module.name} channel started: ${module.describe(channelConfig)}.`);
      stack.push(`${module.name} channel`, () => channel.stop());
      channels.push(channel);
    }
    const where = useTerminal ? 'terminal' : chatChannels.map((c) => c.module.name).join(', ');
    log.info(`Confab started: channels ${where}; ${backend.description}; database ${services.config.database.kind}. Stop with Ctrl-C.`);
    if (backend.starting) void backend.ready.then(() => log.info(`Inference ready: ${backend.description}.`), () => {});

    const ended = channels.map((channel) => channel.finished).filter((f): f is Promise<void> => f !== undefined);
    await Promise.race([shutdown.signalled, loadFailure, ...(ended.length ? [Promise.race(ended)] : [])]);
    return 0;
  } finally {
    await stack.unwind();
    shutdown.dispose();
  }
}

function defaultReviewerName(env: Record<string, string | undefined>): string {
  let name = env.USER ?? '';
  try {
    name ||= userInfo().username;
  } catch {
    // No passwd entry (some containers): fall through to the generic name.
  }
  const cleaned = name.replace(/[^\p{L}\p{N}._-]/gu, '').slice(0, 64);
  return cleaned || 'reviewer';
}

/**
 * The inference backend: the workers named by WORKER_URLS, or the embedded worker, served
 * in-process on a free loopback port and reached through the same client.
 */
export async function createBackend(config: Config, logger?: Logger): Promise<LoadedBackend> {
  const inference = await import('../inference');
  const np = config.worker.neuronpedia;
  if (np) {
    const client = inference.createNeuronpediaInferenceClient({ ...np, secret: config.worker.secret, timeoutMs: config.worker.timeoutMs });
    return Object.assign(client, { description: `Neuronpedia servers (NLA ${np.nlaUrl}, inference ${np.inferenceUrl})` });
  }
  if (config.worker.urls.length > 0) {
    const client = inference.createInferenceClient({ urls: config.worker.urls, secret: config.worker.secret, timeoutMs: config.worker.timeoutMs, logger });
    return Object.assign(client, { description: `workers ${config.worker.urls.join(', ')}` });
  }
  const [{ createThreadedEngine }, { createEmbeddedInferenceClient }] = await Promise.all([import('../worker/thread/engine-thread'), import('./embedded-worker')]);
  const started = Date.now();
  // On its own thread: a forward pass on this event loop would also hold up every Discord and
  // Slack acknowledgement behind it.
  const engine = await createThreadedEngine(config.worker.modelsPath, { executionProvider: config.worker.executionProvider, threads: config.worker.engineThreads, log: logger });
  const client = await createEmbeddedInferenceClient({ engine, timeoutMs: config.worker.timeoutMs });
  // Logged with the start line, after the database opened: a start that fails says one thing.
  const threads = engine.planned === 1 ? '1 engine thread, loaded' : `${engine.planned} engine threads, the first loaded`;
  return Object.assign(client, { description: `embedded worker at ${client.url} (${threads} in ${Date.now() - started} ms)` });
}

/**
 * Resolves once no terminal analysis is queued, running or owed a post. A result counts as
 * posted only after a channel has shown it, so nothing is left to wait for then (the empty list).
 * Polls, because analyses resumed from an earlier run were not asked for in this session and
 * nothing else announces when the last one ends.
 */
async function whenNoTerminalAnalysisPending(services: Services, stop: Promise<unknown>): Promise<number[]> {
  const { pendingAnalysisIds } = await import('./pending');
  let stopped = false;
  void stop.then(() => (stopped = true));
  while (!stopped && (await pendingAnalysisIds(services, 'terminal')).length > 0) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return [];
}

/** Things to stop, in reverse order of starting; one failure does not skip the rest. */
class ShutdownStack {
  private readonly steps: Array<{ name: string; stop: () => Promise<void> }> = [];
  constructor(private readonly log: Logger) {}
  push(name: string, stop: () => Promise<void>): void {
    this.steps.push({ name, stop });
  }
  /** Stopped after everything else. */
  pushBottom(name: string, stop: () => Promise<void>): void {
    this.steps.unshift({ name, stop });
  }
  async unwind(): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.stop();
      } catch (error) {
        this.log.error(`Stopping the ${step.name} failed: ${(error as Error).message}`);
      }
    }
  }
}
