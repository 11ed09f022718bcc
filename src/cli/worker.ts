/**
 * `confab worker`: the inference worker on its own, for a GPU host. It serves the models named
 * by the manifest over HTTP until SIGINT or SIGTERM.
 */
import { loadConfig, loadDotEnv } from '../config';
import { createLogger } from '../log';
import { onShutdownSignal } from './signals';
import { OperatorError, UsageError, type CliCommand } from './spec';

export const workerCommand: CliCommand = {
  name: 'worker',
  summary: 'Run the inference worker (SAE features and NLA explanations over HTTP).',
  options: {
    port: { type: 'string', valueName: 'N', description: 'Port to listen on (default CONFAB_WORKER_PORT, 8477; 0 picks a free one).' },
    host: { type: 'string', valueName: 'HOST', description: 'Address to bind (default CONFAB_WORKER_HOST, 127.0.0.1).' },
    models: { type: 'string', valueName: 'PATH', description: 'Model manifest (default CONFAB_MODELS, the reference stack).' },
    'engine-threads': {
      type: 'string',
      valueName: 'N',
      description: 'Engine threads, each with a copy of the models (default CONFAB_ENGINE_THREADS; one per core up to 2 on cpu, 1 on cuda).',
    },
  },
  details: [
    'Set CONFAB_WORKER_SECRET to require the X-SECRET-KEY header on every route except /health.',
    'Bind to a non-loopback address only with a secret set. GPU: install with',
    'ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci and set CONFAB_EXECUTION_PROVIDER=cuda.',
  ],
  async run({ values }, io) {
    loadDotEnv();
    const env = { ...io.env };
    if (values.port !== undefined) {
      if (!/^\d+$/.test(String(values.port)) || Number(values.port) > 65535) {
        throw new UsageError(`--port must be a whole number from 0 to 65535; got "${values.port}".`, 'worker');
      }
      env.CONFAB_WORKER_PORT = String(values.port);
    }
    if (typeof values.host === 'string') env.CONFAB_WORKER_HOST = values.host;
    if (typeof values.models === 'string') env.CONFAB_MODELS = values.models;
    if (values['engine-threads'] !== undefined) {
      if (!/^\d+$/.test(String(values['engine-threads'])) || Number(values['engine-threads']) < 1 || Number(values['engine-threads']) > 64) {
        throw new UsageError(`--engine-threads must be a whole number from 1 to 64; got "${values['engine-threads']}".`, 'worker');
      }
      env.CONFAB_ENGINE_THREADS = String(values['engine-threads']);
    }
    const config = loadConfig(env);
    const log = createLogger({ level: config.logLevel, stream: io.stderr });
    if (!isLoopback(config.worker.host) && !config.worker.secret) {
      log.warn(`Binding to ${config.worker.host} without CONFAB_WORKER_SECRET: anyone who can reach this port can use the worker.`);
    }

    const { runWorker } = await import('../worker/server');
    const worker = await runWorker({
      port: config.worker.port,
      host: config.worker.host,
      modelsPath: config.worker.modelsPath,
      secret: config.worker.secret,
      executionProvider: config.worker.executionProvider,
      engineThreads: config.worker.engineThreads,
      log,
    }).catch((error: unknown) => {
      throw listenProblem(error, config.worker.host, config.worker.port) ?? error;
    });
    io.stdout.write(`Confab worker listening on ${worker.url} (models: ${config.worker.modelsPath}; ${worker.engineThreads} engine thread${worker.engineThreads === 1 ? '' : 's'}).\n`);
    // Never exit on a second signal: ONNX Runtime aborts the process (134) when it is torn down
    // inside a run. The second signal stops the runs at their next step; the exit follows them.
    const shutdown = onShutdownSignal(log, {
      onRepeat(signal) {
        log.warn(`${signal} received again; stopping the running batches at their next step, then exiting.`);
        worker.hurry();
      },
    });
    await shutdown.signalled;
    await worker.close();
    shutdown.dispose();
    return 0;
  },
};

/** The one line for an address the worker cannot listen on; undefined for any other failure. */
function listenProblem(error: unknown, host: string, port: number): OperatorError | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const choose = 'choose another with --port N or CONFAB_WORKER_PORT (0 picks a free one)';
  if (code === 'EADDRINUSE') return new OperatorError(`Port ${port} on ${host} is already in use (EADDRINUSE); stop what listens on ${where}, or ${choose}.`);
  if (code === 'EACCES') return new OperatorError(`Not allowed to listen on ${where} (EACCES): ports below 1024 need privileges; ${choose}.`);
  if (code === 'EADDRNOTAVAIL') return new OperatorError(`${host} is not an address of this machine (EADDRNOTAVAIL); choose one with --host H or CONFAB_WORKER_HOST.`);
  return undefined;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
