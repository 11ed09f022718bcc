/**
 * `confab doctor`: what `confab start` would do with this environment, checked without
 * starting it: the resolved configuration (secrets masked), the database and whether it is
 * reachable, worker health with the model and layer, and the channels that would start.
 */
import { CORE_VARIABLES, loadConfig, loadDotEnv, type Config } from '../config';
import { CHAT_CHANNELS, enabledChatChannels, type VariableSpec } from '../platforms';
import type { InferenceClient } from '../inference';
import { maskSecrets } from '../log';
import type { CliCommand, CliIo } from './spec';
import type { EmbeddedInferenceClient } from './embedded-worker';

type Check = { ok: boolean; line: string };

export const doctorCommand: CliCommand = {
  name: 'doctor',
  summary: 'Check the configuration, database, worker and channels, with secrets masked.',
  options: {},
  details: ['Exits 1 when the database or a worker cannot be reached. It opens the database (applying migrations) and, without WORKER_URLS, loads the embedded worker.'],
  async run(_args, io) {
    loadDotEnv();
    const config = loadConfig(io.env);
    const chat = enabledChatChannels(io.env);
    const out = (line = '') => io.stdout.write(`${line}\n`);

    out('Configuration (environment and .env; secrets masked)');
    const variables = allVariables();
    for (const line of describeVariables(variables, io.env)) out(`  ${line}`);
    const known = new Set(variables.map((v) => v.name));
    const unknown = Object.keys(io.env).filter((name) => name.startsWith('CONFAB_') && !known.has(name) && !name.startsWith('CONFAB_TEST_'));
    for (const name of unknown) out(`  warning: ${name} is set but Confab does not read it (a typo?).`);

    out('');
    out('Database');
    const database = await checkDatabase(config);
    out(`  ${mark(database)} ${database.line}`);

    out('');
    out('Workers');
    const workers = await checkWorkers(config);
    for (const check of workers) out(`  ${mark(check)} ${check.line}`);

    out('');
    out('Channels that `confab start` would start');
    if (chat.length === 0) out('  terminal (no chat channel is configured)');
    for (const { module, config: channelConfig } of chat) out(`  ${module.name}: ${module.describe(channelConfig)}`);
    out('  (`confab start --local` starts only the terminal)');

    const ok = database.ok && workers.every((check) => check.ok);
    out('');
    out(ok ? 'All checks passed.' : 'Some checks failed; see the lines marked FAIL.');
    return ok ? 0 : 1;
  },
};

function mark(check: Check): string {
  return check.ok ? 'ok  ' : 'FAIL';
}

/** Every variable Confab reads: the core's, then each chat channel's. */
export function allVariables(): VariableSpec[] {
  return [...CORE_VARIABLES, ...CHAT_CHANNELS.flatMap((channel) => channel.variables)];
}

/** One line per variable: its value, masked when secret, or its default. */
export function describeVariables(variables: readonly VariableSpec[], env: CliIo['env']): string[] {
  const width = Math.max(...variables.map((v) => v.name.length));
  return variables.map(({ name, default: fallback, secret }) => {
    const value = env[name];
    let shown: string;
    if (value === undefined || value === '') shown = fallback !== undefined ? `${fallback} (default)` : 'not set';
    else if (name === 'DATABASE_URL') shown = maskSecrets(value);
    else if (secret) shown = 'set (hidden)';
    else shown = maskSecrets(value);
    return `${name.padEnd(width)}  ${shown}`;
  });
}

async function checkDatabase(config: Config): Promise<Check> {
  // db/index.ts loads the database drivers lazily, so importing it at the top is cheap.
  const { openDatabase } = await import('../../db');
  const where = config.database.kind === 'pglite' ? `PGlite at ${config.database.dir}` : `PostgreSQL at ${maskSecrets(config.database.url)}`;
  try {
    const database = await openDatabase(config.database);
    await database.close();
    return { ok: true, line: `${where}: reachable, migrations applied.` };
  } catch (error) {
    return { ok: false, line: `${where}: ${maskSecrets((error as Error).message)}` };
  }
}

async function checkWorkers(config: Config): Promise<Check[]> {
  const inference = await import('../inference');
  const np = config.worker.neuronpedia;
  if (np) return inference.checkNeuronpediaServers({ ...np, secret: config.worker.secret, timeoutMs: 5_000 });
  if (config.worker.urls.length > 0) {
    return Promise.all(
      config.worker.urls.map(async (url) => {
        const client = inference.createInferenceClient({ urls: [url], secret: config.worker.secret, timeoutMs: 5_000, retries: 0 });
        try {
          return await describeWorker(client, `worker ${maskSecrets(url)}`);
        } finally {
          await client.close();
        }
      }),
    );
  }
  // The embedded worker: load it exactly as `confab start` does, and ask it.
  const label = `embedded worker (${config.worker.modelsPath})`;
  let client: EmbeddedInferenceClient | undefined;
  try {
    const [{ createEngine }, { registerRemoteBackends }, { createEmbeddedInferenceClient }] = await Promise.all([
      import('../worker/runtime/engine'),
      import('../worker/remote'),
      import('./embedded-worker'),
    ]);
    registerRemoteBackends();
    const engine = await createEngine(config.worker.modelsPath, { executionProvider: config.worker.executionProvider });
    client = await createEmbeddedInferenceClient({ engine, timeoutMs: 5_000 });
    return [await describeWorker(client, label)];
  } catch (error) {
    return [{ ok: false, line: `${label}: ${(error as Error).message}` }];
  } finally {
    await client?.close();
  }
}

async function describeWorker(client: InferenceClient, label: string): Promise<Check> {
  try {
    const [status] = await client.health();
    if (status && !status.up) return { ok: false, line: `${label}: unreachable (${status.lastError ?? 'no answer'}).` };
    const caps = await client.capabilities(AbortSignal.timeout(5_000)).catch(async (error: unknown) => {
      const [after] = await client.health();
      // /health takes no secret; only the authenticated call shows a secret the worker refuses.
      if (after?.misconfigured) throw new Error(`MISCONFIGURED, it ${after.lastError?.replace(/^misconfigured: /, '') ?? 'refused our secret'}. Analyses skip it until fixed.`);
      throw error;
    });
    return {
      ok: true,
      line:
        `${label}: healthy; model ${caps.model}, layer ${caps.layer}, d_model ${caps.d_model}, up to ${caps.max_tokens} tokens; ` +
        `SAE ${caps.sae.architecture} × ${caps.sae.width}; NLA ${caps.nla.available ? `AV ${caps.nla.av_backend}, AR ${caps.nla.ar_backend}` : 'not available'}; device ${caps.device}.`,
    };
  } catch (error) {
    return { ok: false, line: `${label}: ${maskSecrets((error as Error).message)}` };
  }
}
