/**
 * The core's configuration: read from the environment (and an optional `.env`) once, at start,
 * into one typed object. Everything else receives a `Config`; nothing else reads `process.env`.
 * Each chat channel declares and reads its own variables (src/platforms/<name>/).
 *
 * A bad or missing variable stops the start with a message that names the variable and what
 * is allowed.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { parseNeuronpediaSetting, type NeuronpediaSetting } from './inference/neuronpedia-setting';
import { defineVariables, floatIn, httpUrl, intIn, readVariables, text, variableSpecs, type VariableSpec } from './variables';

export { ConfigError } from './variables';

/** The reference model stack shipped in the repository. */
export const REFERENCE_MODELS = path.resolve(import.meta.dirname, '..', 'models', 'reference', 'manifest.yaml');

const urlList = z
  .string()
  .transform((s) => s.split(',').map((u) => u.trim()).filter(Boolean))
  .refine((urls) => urls.every((u) => /^https?:\/\/[^\s/]+/.test(u)), 'a comma-separated list of http(s):// URLs');

/** The variables the core reads, in the order `confab doctor` and the README list them. */
export const VARIABLES = defineVariables({
  CONFAB_DATA_DIR: { group: 'core', description: 'Where the embedded database and exports live.', default: './data', schema: text() },
  DATABASE_URL: {
    group: 'core',
    description: 'A PostgreSQL server to use instead of the embedded PGlite database.',
    secret: true,
    schema: z.string().regex(/^postgres(ql)?:\/\/\S+$/, 'a postgres:// or postgresql:// URL'),
  },
  CONFAB_LOG_LEVEL: {
    group: 'core',
    description: 'debug, info, warn or error (logs go to stderr).',
    default: 'info',
    schema: z.enum(['debug', 'info', 'warn', 'error'], { message: 'debug, info, warn or error' }),
  },
  WORKER_URLS: {
    group: 'worker',
    description: 'Comma-separated URLs of external inference workers; unset runs the embedded worker in-process.',
    schema: urlList,
  },
  CONFAB_NEURONPEDIA: {
    group: 'worker',
    description: "Use Neuronpedia's NLA and inference servers instead of a Confab worker: nla=<url>,inference=<url>,model=<id>,source=<id>[,fve_baseline=<B>].",
    schema: z.string().transform((value, ctx) => {
      try {
        return parseNeuronpediaSetting(value);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
  },
  CONFAB_WORKER_SECRET: {
    group: 'worker',
    description: 'Shared secret sent as X-SECRET-KEY to workers (and required by `confab worker` when set).',
    secret: true,
    schema: text(8),
  },
  CONFAB_MODELS: {
    group: 'worker',
    description: 'Path to the model manifest (YAML) the worker loads.',
    default: 'models/reference/manifest.yaml',
    schema: text().transform((p) => (p === 'models/reference/manifest.yaml' ? REFERENCE_MODELS : path.resolve(p))),
  },
  CONFAB_WORKER_PORT: {
    group: 'worker',
    description: 'Port `confab worker` listens on (0 picks a free one). The embedded worker always takes a free loopback port.',
    default: '8477',
    schema: intIn(0, 65535),
  },
  CONFAB_WORKER_HOST: {
    group: 'worker',
    description: 'Address `confab worker` binds to; use a non-loopback address only with CONFAB_WORKER_SECRET set.',
    default: '127.0.0.1',
    schema: text(),
  },
  CONFAB_WORKER_TIMEOUT_MS: {
    group: 'worker',
    description: 'How long one analysis may take on a worker before it is retried or failed.',
    default: '60000',
    schema: intIn(100, 3_600_000),
  },
  CONFAB_EXECUTION_PROVIDER: {
    group: 'worker',
    description: 'ONNX Runtime execution provider: cpu or cuda (overrides the manifest).',
    schema: z.enum(['cpu', 'cuda'], { message: 'cpu or cuda' }),
  },
  CONFAB_ENGINE_THREADS: {
    group: 'worker',
    description: 'Engine threads of the worker, each with its own copy of the models, running batches side by side. Unset: one per CPU core up to 2 on cpu, 1 on cuda.',
    schema: intIn(1, 64),
  },
  CONFAB_MAX_PROMPT_CHARS: {
    group: 'review',
    description: 'Longest prompt accepted, in characters (admins can lower it per channel).',
    default: '2000',
    schema: intIn(1, 100_000),
  },
  CONFAB_VOTES_TO_CLOSE: {
    group: 'review',
    description: 'Decisive votes that close an item (per channel setting overrides it).',
    default: '3',
    schema: intIn(1, 50),
  },
  CONFAB_RATE_LIMIT_PER_MINUTE: { group: 'review', description: 'Analyses one user may request per minute, counted in the database across every bot process.', default: '10', schema: intIn(1, 10_000) },
  CONFAB_DECOY_RATE: { group: 'review', description: 'Share of /review items that are decoys.', default: '0.1', schema: floatIn(0, 1) },
  CONFAB_INSTALL_SECRET: {
    group: 'review',
    description: 'Key of the pseudonymous reviewer ids in exports; generated and stored in the database when unset.',
    secret: true,
    schema: text(16),
  },
  OPENAI_BASE_URL: { group: 'judge', description: 'OpenAI-compatible endpoint of the optional LLM judge.', schema: httpUrl },
  OPENAI_API_KEY: { group: 'judge', description: 'API key of the judge endpoint.', secret: true, schema: text() },
  CONFAB_JUDGE_MODEL: { group: 'judge', description: 'Model name of the judge; unset turns the judge off.', schema: text() },
  CONFAB_JUDGE_MAX_TOKENS: {
    group: 'judge',
    description: "The judge's `max_completion_tokens`: its answer plus, on a reasoning model, its thinking.",
    default: '1024',
    schema: intIn(16, 100_000),
  },
});

export type VariableName = keyof typeof VARIABLES;

/** The core's variables as documentation shows them. */
export const CORE_VARIABLES: readonly VariableSpec[] = variableSpecs(VARIABLES);

/** Variables whose values are masked wherever configuration is printed. */
export const SECRET_VARIABLES: readonly VariableName[] = CORE_VARIABLES.filter((v) => v.secret).map((v) => v.name as VariableName);

export interface Config {
  dataDir: string;
  database: { kind: 'pglite'; dir: string } | { kind: 'postgres'; url: string };
  worker: {
    /** External workers; empty means the embedded worker runs in-process. */
    urls: string[];
    secret?: string;
    modelsPath: string;
    port: number;
    host: string;
    timeoutMs: number;
    executionProvider?: 'cpu' | 'cuda';
    /** Unset: defaultEngineThreads(provider). */
    engineThreads?: number;
    /** Neuronpedia's servers instead of Confab workers (CONFAB_NEURONPEDIA). */
    neuronpedia?: NeuronpediaSetting;
  };
  limits: { maxPromptChars: number; votesToClose: number; rateLimitPerMinute: number; decoyRate: number };
  installSecret?: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  judge?: { baseUrl?: string; apiKey?: string; model: string; maxCompletionTokens: number };
}

/** Validate an environment into a Config. Pass `process.env` at start; tests pass a literal. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const e = readVariables(VARIABLES, env);
  const dataDir = path.resolve(e.CONFAB_DATA_DIR);
  return {
    dataDir,
    database: e.DATABASE_URL ? { kind: 'postgres', url: e.DATABASE_URL } : { kind: 'pglite', dir: path.join(dataDir, 'pglite') },
    worker: {
      urls: e.WORKER_URLS ?? [],
      neuronpedia: e.CONFAB_NEURONPEDIA,
      secret: e.CONFAB_WORKER_SECRET,
      modelsPath: e.CONFAB_MODELS,
      port: e.CONFAB_WORKER_PORT,
      host: e.CONFAB_WORKER_HOST,
      timeoutMs: e.CONFAB_WORKER_TIMEOUT_MS,
      executionProvider: e.CONFAB_EXECUTION_PROVIDER,
      engineThreads: e.CONFAB_ENGINE_THREADS,
    },
    limits: {
      maxPromptChars: e.CONFAB_MAX_PROMPT_CHARS,
      votesToClose: e.CONFAB_VOTES_TO_CLOSE,
      rateLimitPerMinute: e.CONFAB_RATE_LIMIT_PER_MINUTE,
      decoyRate: e.CONFAB_DECOY_RATE,
    },
    installSecret: e.CONFAB_INSTALL_SECRET,
    logLevel: e.CONFAB_LOG_LEVEL,
    judge: e.CONFAB_JUDGE_MODEL
      ? { baseUrl: e.OPENAI_BASE_URL, apiKey: e.OPENAI_API_KEY, model: e.CONFAB_JUDGE_MODEL, maxCompletionTokens: e.CONFAB_JUDGE_MAX_TOKENS }
      : undefined,
  };
}

/** Load `.env` from the working directory if present; real environment variables win. */
export function loadDotEnv(file = '.env'): void {
  if (existsSync(file)) process.loadEnvFile(file);
}
