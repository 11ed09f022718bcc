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

/** The environment variables Confab reads, with their rules. Keys are the variable names. */
const EnvSchema = z.object({
  CONFAB_DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\/\S+$/, 'a postgres:// or postgresql:// URL')
    .optional(),
  WORKER_URLS: urlList.optional(),
  CONFAB_WORKER_SECRET: z.string().min(8, 'at least 8 characters').optional(),
  CONFAB_MODELS: z.string().min(1).optional(),
  CONFAB_WORKER_PORT: intIn(0, 65535).default('8477'),
  CONFAB_WORKER_HOST: z.string().min(1).default('127.0.0.1'),
  CONFAB_WORKER_TIMEOUT_MS: intIn(100, 3_600_000).default('60000'),
  CONFAB_EXECUTION_PROVIDER: z.enum(['cpu', 'cuda'], { message: 'cpu or cuda' }).optional(),
  CONFAB_MAX_PROMPT_CHARS: intIn(1, 100_000).default('2000'),
  CONFAB_VOTES_TO_CLOSE: intIn(1, 50).default('3'),
  CONFAB_RATE_LIMIT_PER_MINUTE: intIn(1, 10_000).default('10'),
  CONFAB_DECOY_RATE: floatIn(0, 1).default('0.1'),
  CONFAB_INSTALL_SECRET: z.string().min(16, 'at least 16 characters').optional(),
  CONFAB_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error'], { message: 'debug, info, warn or error' }).default('info'),

  DISCORD_TOKEN: z.string().min(1).optional(),
  DISCORD_APPLICATION_ID: z.string().regex(/^\d+$/, 'a numeric Discord snowflake').optional(),
  DISCORD_GUILD_ID: z.string().regex(/^\d+$/, 'a numeric Discord snowflake').optional(),
  DISCORD_API_BASE: httpUrl.optional(),
  DISCORD_REGISTER_ON_START: flag.default('0'),

  SLACK_BOT_TOKEN: z.string().regex(/^xoxb-/, 'a bot token starting with xoxb-').optional(),
  SLACK_SIGNING_SECRET: z.string().min(1).optional(),
  SLACK_APP_TOKEN: z.string().regex(/^xapp-/, 'an app-level token starting with xapp-').optional(),
  SLACK_API_URL: httpUrl.optional(),
  SLACK_PORT: intIn(0, 65535).default('3000'),

  OPENAI_BASE_URL: httpUrl.optional(),
  OPENAI_API_KEY: z.string().min(1).optional(),
  CONFAB_JUDGE_MODEL: z.string().min(1).optional(),
});

export type Env = z.infer<typeof EnvSchema>;

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
export const SECRET_VARIABLES = [
  'DATABASE_URL',
  'CONFAB_WORKER_SECRET',
  'CONFAB_INSTALL_SECRET',
  'DISCORD_TOKEN',
  'SLACK_BOT_TOKEN',
  'SLACK_SIGNING_SECRET',
  'SLACK_APP_TOKEN',
  'OPENAI_API_KEY',
] as const;

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
      const shown = SECRET_VARIABLES.includes(name as (typeof SECRET_VARIABLES)[number]) ? '(hidden)' : JSON.stringify(cleaned[name]);
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
