/**
 * Configuration: read from the environment (and an optional `.env`) once, at start, into one
 * typed object. Everything else receives a `Config`; nothing else reads `process.env`.
 *
 * A bad or missing variable stops the start with a message that names the variable and what
 * is allowed.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { parseNeuronpediaSetting, type NeuronpediaSetting } from './inference/neuronpedia-setting';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const intIn = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `a whole number from ${min} to ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `a whole number from ${min} to ${max}`);

const floatIn = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+(\.\d+)?$/, `a number from ${min} to ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `a number from ${min} to ${max}`);

const flag = z
  .enum(['0', '1', 'true', 'false', 'yes', 'no', ''], { message: 'one of 1, 0, true, false' })
  .transform((v) => v === '1' || v === 'true' || v === 'yes');

const urlList = z
  .string()
  .transform((s) => s.split(',').map((u) => u.trim()).filter(Boolean))
  .refine((urls) => urls.every((u) => /^https?:\/\/[^\s/]+/.test(u)), 'a comma-separated list of http(s):// URLs');

const httpUrl = z.string().regex(/^https?:\/\/\S+$/, 'an http(s):// URL');

/**
 * The environment variables Confab reads, with their rules. Keys are the variable names.
 * Defaults are output values: zod 4's `.default()` skips the transform, so a string default on
 * a number would arrive as a string.
 */
const EnvSchema = z.object({
  CONFAB_DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\/\S+$/, 'a postgres:// or postgresql:// URL')
    .optional(),
  WORKER_URLS: urlList.optional(),
  CONFAB_NEURONPEDIA: z
    .string()
    .superRefine((value, ctx) => {
      try {
        parseNeuronpediaSetting(value);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    })
    .optional(),
  CONFAB_WORKER_SECRET: z.string().min(8, 'at least 8 characters').optional(),
  CONFAB_MODELS: z.string().min(1).optional(),
  CONFAB_WORKER_PORT: intIn(0, 65535).default(8477),
  CONFAB_WORKER_HOST: z.string().min(1).default('127.0.0.1'),
  CONFAB_WORKER_TIMEOUT_MS: intIn(100, 3_600_000).default(60000),
  CONFAB_EXECUTION_PROVIDER: z.enum(['cpu', 'cuda'], { message: 'cpu or cuda' }).optional(),
  CONFAB_ENGINE_THREADS: intIn(1, 64).optional(),
  CONFAB_MAX_PROMPT_CHARS: intIn(1, 100_000).default(2000),
  CONFAB_VOTES_TO_CLOSE: intIn(1, 50).default(3),
  CONFAB_RATE_LIMIT_PER_MINUTE: intIn(1, 10_000).default(10),
  CONFAB_DECOY_RATE: floatIn(0, 1).default(0.1),
  CONFAB_INSTALL_SECRET: z.string().min(16, 'at least 16 characters').optional(),
  CONFAB_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error'], { message: 'debug, info, warn or error' }).default('info'),

  DISCORD_TOKEN: z.string().min(1).optional(),
  DISCORD_APPLICATION_ID: z.string().regex(/^\d+$/, 'a numeric Discord snowflake').optional(),
  DISCORD_GUILD_ID: z.string().regex(/^\d+$/, 'a numeric Discord snowflake').optional(),
  DISCORD_API_BASE: httpUrl.optional(),
  DISCORD_REGISTER_ON_START: flag.default(false),

  SLACK_BOT_TOKEN: z.string().regex(/^xoxb-/, 'a bot token starting with xoxb-').optional(),
  SLACK_SIGNING_SECRET: z.string().min(1).optional(),
  SLACK_APP_TOKEN: z.string().regex(/^xapp-/, 'an app-level token starting with xapp-').optional(),
  SLACK_API_URL: httpUrl.optional(),
  SLACK_PORT: intIn(0, 65535).default(3000),

  OPENAI_BASE_URL: httpUrl.optional(),
  OPENAI_API_KEY: z.string().min(1).optional(),
  CONFAB_JUDGE_MODEL: z.string().min(1).optional(),
});

export type Env = z.infer<typeof EnvSchema>;
export type VariableName = keyof typeof EnvSchema.shape;

/** What each variable is for; `confab doctor` and the README's configuration table show these. */
export const VARIABLES: Record<VariableName, { group: string; description: string; default?: string }> = {
  CONFAB_DATA_DIR: { group: 'core', description: 'Where the embedded database and exports live.', default: './data' },
  DATABASE_URL: { group: 'core', description: 'A PostgreSQL server to use instead of the embedded PGlite database.' },
  WORKER_URLS: { group: 'worker', description: 'Comma-separated URLs of external inference workers; unset runs the embedded worker in-process.' },
  CONFAB_NEURONPEDIA: {
    group: 'worker',
    description: 'Use Neuronpedia\'s NLA and inference servers instead of a Confab worker: nla=<url>,inference=<url>,model=<id>,source=<id>[,fve_baseline=<B>].',
  },
  CONFAB_WORKER_SECRET: { group: 'worker', description: 'Shared secret sent as X-SECRET-KEY to workers (and required by `confab worker` when set).' },
  CONFAB_MODELS: { group: 'worker', description: 'Path to the model manifest (YAML) the worker loads.', default: 'models/reference/manifest.yaml' },
  CONFAB_WORKER_PORT: { group: 'worker', description: 'Port `confab worker` listens on (0 picks a free one). The embedded worker always takes a free loopback port.', default: '8477' },
  CONFAB_WORKER_HOST: { group: 'worker', description: 'Address `confab worker` binds to; use a non-loopback address only with CONFAB_WORKER_SECRET set.', default: '127.0.0.1' },
  CONFAB_WORKER_TIMEOUT_MS: { group: 'worker', description: 'How long one analysis may take on a worker before it is retried or failed.', default: '60000' },
  CONFAB_EXECUTION_PROVIDER: { group: 'worker', description: 'ONNX Runtime execution provider: cpu or cuda (overrides the manifest).' },
  CONFAB_ENGINE_THREADS: {
    group: 'worker',
    description: 'Engine threads of the worker, each with its own copy of the models, running batches side by side. Unset: one per CPU core up to 2 on cpu, 1 on cuda.',
  },
  CONFAB_MAX_PROMPT_CHARS: { group: 'review', description: 'Longest prompt accepted, in characters (admins can lower it per channel).', default: '2000' },
  CONFAB_VOTES_TO_CLOSE: { group: 'review', description: 'Decisive votes that close an item (per channel setting overrides it).', default: '3' },
  CONFAB_RATE_LIMIT_PER_MINUTE: { group: 'review', description: 'Analyses one user may request per minute.', default: '10' },
  CONFAB_DECOY_RATE: { group: 'review', description: 'Share of /review items that are decoys.', default: '0.1' },
  CONFAB_INSTALL_SECRET: { group: 'review', description: 'Key of the pseudonymous reviewer ids in exports; generated and stored in the database when unset.' },
  CONFAB_LOG_LEVEL: { group: 'core', description: 'debug, info, warn or error (logs go to stderr).', default: 'info' },
  DISCORD_TOKEN: { group: 'discord', description: 'Bot token; with DISCORD_APPLICATION_ID it turns the Discord channel on.' },
  DISCORD_APPLICATION_ID: { group: 'discord', description: 'The application (client) id.' },
  DISCORD_GUILD_ID: { group: 'discord', description: 'Register commands in this guild only (instant), instead of globally.' },
  DISCORD_API_BASE: { group: 'discord', description: 'REST base URL, for a proxy or a test server.', default: 'https://discord.com/api' },
  DISCORD_REGISTER_ON_START: { group: 'discord', description: 'Register slash commands at every start (1) or only with `confab discord register` (0).', default: '0' },
  SLACK_BOT_TOKEN: { group: 'slack', description: 'Bot token (xoxb-…); turns the Slack channel on.' },
  SLACK_SIGNING_SECRET: { group: 'slack', description: 'Signing secret, for HTTP mode.' },
  SLACK_APP_TOKEN: { group: 'slack', description: 'App-level token (xapp-…), for Socket Mode.' },
  SLACK_API_URL: { group: 'slack', description: 'Web API base URL, for a proxy or a test server.', default: 'https://slack.com/api/' },
  SLACK_PORT: { group: 'slack', description: 'Port of the HTTP-mode receiver (POST /slack/events).', default: '3000' },
  OPENAI_BASE_URL: { group: 'judge', description: 'OpenAI-compatible endpoint of the optional LLM judge.' },
  OPENAI_API_KEY: { group: 'judge', description: 'API key of the judge endpoint.' },
  CONFAB_JUDGE_MODEL: { group: 'judge', description: 'Model name of the judge; unset turns the judge off.' },
};

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
  discord?: { token: string; applicationId: string; guildId?: string; apiBase?: string; registerOnStart: boolean };
  slack?: { botToken: string; signingSecret?: string; appToken?: string; apiUrl?: string; port: number };
  judge?: { baseUrl?: string; apiKey?: string; model: string };
}

/** The reference model stack shipped in the repository. */
export const REFERENCE_MODELS = path.resolve(import.meta.dirname, '..', 'models', 'reference', 'manifest.yaml');

/** Variables whose values are masked wherever configuration is printed. */
export const SECRET_VARIABLES: readonly VariableName[] = [
  'DATABASE_URL',
  'CONFAB_WORKER_SECRET',
  'CONFAB_INSTALL_SECRET',
  'DISCORD_TOKEN',
  'SLACK_BOT_TOKEN',
  'SLACK_SIGNING_SECRET',
  'SLACK_APP_TOKEN',
  'OPENAI_API_KEY',
];

/**
 * Validate an environment into a Config. Pass `process.env` at start; tests pass a literal.
 * Empty strings count as unset, as they do in most `.env` files.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const cleaned: Record<string, string> = {};
  for (const key of Object.keys(EnvSchema.shape)) {
    const v = env[key];
    if (v !== undefined && v !== '') cleaned[key] = v;
  }
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '?');
      const shown = SECRET_VARIABLES.includes(name as VariableName) ? '(hidden)' : JSON.stringify(cleaned[name]);
      return `${name}=${shown} is not valid: expected ${issue.message}.`;
    });
    throw new ConfigError(lines.join('\n'));
  }
  const e = parsed.data;

  if ((e.DISCORD_TOKEN === undefined) !== (e.DISCORD_APPLICATION_ID === undefined)) {
    throw new ConfigError('DISCORD_TOKEN and DISCORD_APPLICATION_ID must be set together (or neither).');
  }
  if (e.SLACK_BOT_TOKEN && !e.SLACK_SIGNING_SECRET && !e.SLACK_APP_TOKEN) {
    throw new ConfigError(
      'SLACK_BOT_TOKEN is set, but neither SLACK_SIGNING_SECRET (HTTP mode) nor SLACK_APP_TOKEN (Socket Mode) is.',
    );
  }

  const dataDir = path.resolve(e.CONFAB_DATA_DIR);
  return {
    dataDir,
    database: e.DATABASE_URL ? { kind: 'postgres', url: e.DATABASE_URL } : { kind: 'pglite', dir: path.join(dataDir, 'pglite') },
    worker: {
      urls: e.WORKER_URLS ?? [],
      secret: e.CONFAB_WORKER_SECRET,
      modelsPath: e.CONFAB_MODELS ? path.resolve(e.CONFAB_MODELS) : REFERENCE_MODELS,
      port: e.CONFAB_WORKER_PORT,
      host: e.CONFAB_WORKER_HOST,
      timeoutMs: e.CONFAB_WORKER_TIMEOUT_MS,
      executionProvider: e.CONFAB_EXECUTION_PROVIDER,
      engineThreads: e.CONFAB_ENGINE_THREADS,
      neuronpedia: e.CONFAB_NEURONPEDIA ? parseNeuronpediaSetting(e.CONFAB_NEURONPEDIA) : undefined,
    },
    limits: {
      maxPromptChars: e.CONFAB_MAX_PROMPT_CHARS,
      votesToClose: e.CONFAB_VOTES_TO_CLOSE,
      rateLimitPerMinute: e.CONFAB_RATE_LIMIT_PER_MINUTE,
      decoyRate: e.CONFAB_DECOY_RATE,
    },
    installSecret: e.CONFAB_INSTALL_SECRET,
    logLevel: e.CONFAB_LOG_LEVEL,
    discord:
      e.DISCORD_TOKEN && e.DISCORD_APPLICATION_ID
        ? {
            token: e.DISCORD_TOKEN,
            applicationId: e.DISCORD_APPLICATION_ID,
            guildId: e.DISCORD_GUILD_ID,
            apiBase: e.DISCORD_API_BASE,
            registerOnStart: e.DISCORD_REGISTER_ON_START,
          }
        : undefined,
    slack: e.SLACK_BOT_TOKEN
      ? {
          botToken: e.SLACK_BOT_TOKEN,
          signingSecret: e.SLACK_SIGNING_SECRET,
          appToken: e.SLACK_APP_TOKEN,
          apiUrl: e.SLACK_API_URL,
          port: e.SLACK_PORT,
        }
      : undefined,
    judge: e.CONFAB_JUDGE_MODEL ? { baseUrl: e.OPENAI_BASE_URL, apiKey: e.OPENAI_API_KEY, model: e.CONFAB_JUDGE_MODEL } : undefined,
  };
}

/** Load `.env` from the working directory if present; real environment variables win. */
export function loadDotEnv(file = '.env'): void {
  if (existsSync(file)) process.loadEnvFile(file);
}
