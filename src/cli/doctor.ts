/**
 * `confab doctor`: what `confab start` would do with this environment, checked without
 * starting it: the resolved configuration (secrets masked), the database and whether it is
 * reachable, worker health with the model and layer, and the channels that would start.
 */
import { loadConfig, loadDotEnv, SECRET_VARIABLES, VARIABLES, type Config, type VariableName } from '../config';
import { maskDatabaseUrl } from '../../db';
import { enabledChatChannels } from '../platforms';
import type { InferenceClient } from '../inference';
import type { CliCommand, CliIo } from './spec';

type Check = { ok: boolean; line: string };

export const doctorCommand: CliCommand = {
  name: 'doctor',
  summary: 'Check the configuration, database, worker and channels, with secrets masked.',
  options: {},
  details: ['Exits 1 when the database or a worker cannot be reached. It opens the database (applying migrations) and, without WORKER_URLS, loads the embedded worker.'],
  async run(_args, io) {
    loadDotEnv();
    const config = loadConfig(io.env);
    const out = (line = '') => io.stdout.write(`${line}\n`);

    out('Configuration (environment and .env; secrets masked)');
    for (const line of describeVariables(io.env)) out(`  ${line}`);
    const unknown = Object.keys(io.env).filter((name) => name.startsWith('CONFAB_') && !(name in VARIABLES) && !name.startsWith('CONFAB_TEST_'));
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
    const chat = enabledChatChannels(config);
    if (chat.length === 0) out('  terminal (no chat channel is configured)');
    for (const channel of chat) {
      out(channel.load ? `  ${channel.name}: ${channel.describe(config)}` : `  FAIL ${channel.name}: configured, but this build has no src/platforms/${channel.name}/ channel yet.`);
    }
    out('  (`confab start --local` starts only the terminal)');

    const ok = database.ok && workers.every((check) => check.ok) && chat.every((channel) => channel.load !== undefined);
    out('');
    out(ok ? 'All checks passed.' : 'Some checks failed; see the lines marked FAIL.');
    return ok ? 0 : 1;
  },
};

function mark(check: Check): string {
  return check.ok ? 'ok  ' : 'FAIL';
}

/** One line per variable: its value, masked when secret, or its default. */
export function describeVariables(env: CliIo['env']): string[] {
  const names = Object.keys(VARIABLES) as VariableName[];
  const width = Math.max(...names.map((name) => name.length));
  return names.map((name) => {
    const value = env[name];
    let shown: string;
    if (value === undefined || value === '') shown = VARIABLES[name].default !== undefined ? `${VARIABLES[name].default} (default)` : 'not set';
    else if (name === 'DATABASE_URL') shown = maskDatabaseUrl(value);
    else if (SECRET_VARIABLES.includes(name)) shown = 'set (hidden)';
    else shown = value;
    return `${name.padEnd(width)}  ${shown}`;
  });
}

async function checkDatabase(config: Config): Promise<Check> {
  // db/index.ts loads the database drivers lazily, so importing it at the top is cheap.
  const { openDatabase } = await import('../../db');
  const where = config.database.kind === 'pglite' ? `PGlite at ${config.database.dir}` : `PostgreSQL at ${maskDatabaseUrl(config.database.url)}`;
  try {
    const database = await openDatabase(config.database);
    await database.close();
    return { ok: true, line: `${where}: reachable, migrations applied.` };
  } catch (error) {
    return { ok: false, line: `${where}: ${(error as Error).message}` };
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
          return await describeWorker(client, `worker ${url}`);
        } finally {
          await client.close();
        }
      }),
    );
  }
  // The embedded worker: load it exactly as `confab start` does, and ask it.
  const label = `embedded worker (${config.worker.modelsPath})`;
  let client: Awaited<ReturnType<typeof inference.createEmbeddedInferenceClient>> | undefined;
  try {
    const [{ createEngine }, { registerRemoteBackends }] = await Promise.all([import('../worker/runtime/engine'), import('../worker/remote')]);
    registerRemoteBackends();
    const engine = await createEngine(config.worker.modelsPath, { executionProvider: config.worker.executionProvider });
    client = await inference.createEmbeddedInferenceClient({ engine, timeoutMs: 5_000 });
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
    const caps = await client.capabilities(AbortSignal.timeout(5_000));
    return {
      ok: true,
      line:
        `${label}: healthy; model ${caps.model}, layer ${caps.layer}, d_model ${caps.d_model}, up to ${caps.max_tokens} tokens; ` +
        `SAE ${caps.sae.architecture} × ${caps.sae.width}; NLA ${caps.nla.available ? `AV ${caps.nla.av_backend}, AR ${caps.nla.ar_backend}` : 'not available'}; device ${caps.device}.`,
    };
  } catch (error) {
    return { ok: false, line: `${label}: ${(error as Error).message}` };
  }
}
