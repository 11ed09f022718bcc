import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, REFERENCE_MODELS, SECRET_VARIABLES, VARIABLES, type VariableName } from '../../src/config';

function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

/** For each variable with rules, values that break them. Free-form variables have none. */
const BAD_VALUES: Partial<Record<VariableName, string[]>> = {
  DATABASE_URL: ['mysql://localhost/confab', 'localhost:5432'],
  WORKER_URLS: ['ftp://worker', 'http://ok:8477,worker2:8477'],
  CONFAB_NEURONPEDIA: ['http://gpu:5001', 'nla=http://a,inference=http://b,model=m', 'nla=http://a,inference=b,model=m,source=s'],
  CONFAB_WORKER_SECRET: ['short'],
  CONFAB_WORKER_PORT: ['abc', '70000', '-1', '80.5'],
  CONFAB_WORKER_TIMEOUT_MS: ['5', 'soon'],
  CONFAB_EXECUTION_PROVIDER: ['tpu', 'CUDA'],
  CONFAB_MAX_PROMPT_CHARS: ['0', '-5', '1.5', '100001', 'lots'],
  CONFAB_VOTES_TO_CLOSE: ['0', '51'],
  CONFAB_RATE_LIMIT_PER_MINUTE: ['0', 'many'],
  CONFAB_DECOY_RATE: ['1.5', '-0.1', 'some'],
  CONFAB_INSTALL_SECRET: ['too-short'],
  CONFAB_LOG_LEVEL: ['verbose'],
  OPENAI_BASE_URL: ['api.openai.com'],
};

describe('loadConfig', () => {
  it('uses the documented defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config.dataDir).toBe(path.resolve('./data'));
    expect(config.database).toEqual({ kind: 'pglite', dir: path.join(path.resolve('./data'), 'pglite') });
    expect(config.worker).toMatchObject({ urls: [], modelsPath: REFERENCE_MODELS, port: 8477, host: '127.0.0.1', timeoutMs: 60000 });
    expect(config.limits).toEqual({ maxPromptChars: 2000, votesToClose: 3, rateLimitPerMinute: 10, decoyRate: 0.1 });
    expect(config.logLevel).toBe('info');
    expect(config.judge).toBeUndefined();
  });

  it('reads CONFAB_NEURONPEDIA into the Neuronpedia backend\'s settings', () => {
    const config = loadConfig({ CONFAB_NEURONPEDIA: 'nla=http://gpu:5001,inference=http://gpu:5002,model=gemma-3-12b-it,source=32-x' });
    expect(config.worker.neuronpedia).toEqual({ nlaUrl: 'http://gpu:5001', inferenceUrl: 'http://gpu:5002', model: 'gemma-3-12b-it', source: '32-x', fveBaseline: undefined });
    expect(loadConfig({}).worker.neuronpedia).toBeUndefined();
  });

  it('turns numbers into numbers, defaults included', () => {
    const config = loadConfig({ CONFAB_MAX_PROMPT_CHARS: '500', CONFAB_DECOY_RATE: '0.25' });
    expect(config.limits.maxPromptChars).toBe(500);
    expect(config.limits.decoyRate).toBe(0.25);
    expect(typeof config.worker.port).toBe('number');
    expect(typeof config.limits.votesToClose).toBe('number');
  });

  it('treats empty strings as unset, as .env files write them', () => {
    expect(loadConfig({ DATABASE_URL: '', CONFAB_MAX_PROMPT_CHARS: '' }).database.kind).toBe('pglite');
  });

  it('reads the database and workers', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://confab:pw@db:5432/confab',
      WORKER_URLS: 'http://gpu1:8477, http://gpu2:8477',
    });
    expect(config.database).toEqual({ kind: 'postgres', url: 'postgres://confab:pw@db:5432/confab' });
    expect(config.worker.urls).toEqual(['http://gpu1:8477', 'http://gpu2:8477']);
  });

  for (const [name, values] of Object.entries(BAD_VALUES) as Array<[VariableName, string[]]>) {
    for (const value of values) {
      it(`names ${name} and what is allowed when it is ${JSON.stringify(value)}`, () => {
        const message = configError({ [name]: value });
        expect(message).toContain(name);
        expect(message).toMatch(/expected .+\./);
        if (SECRET_VARIABLES.includes(name)) expect(message).not.toContain(value);
        else expect(message).toContain(JSON.stringify(value));
      });
    }
  }

  it('lists every bad variable at once, one line each', () => {
    const message = configError({ CONFAB_WORKER_PORT: 'x', CONFAB_LOG_LEVEL: 'loud', CONFAB_VOTES_TO_CLOSE: '0' });
    const lines = message.split('\n');
    expect(lines).toHaveLength(3);
    expect(message).toContain('CONFAB_WORKER_PORT');
    expect(message).toContain('CONFAB_LOG_LEVEL');
    expect(message).toContain('CONFAB_VOTES_TO_CLOSE');
  });

  it('never prints a secret value, even a malformed one', () => {
    const message = configError({ DATABASE_URL: 'mysql://root:hunter2@db/confab', CONFAB_WORKER_SECRET: 'hunter3' });
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('hunter3');
    expect(message).toContain('(hidden)');
  });
});

describe('variable documentation', () => {
  it('describes every variable', () => {
    for (const [name, doc] of Object.entries(VARIABLES)) {
      expect(doc.description.length, name).toBeGreaterThan(10);
    }
  });

  it('matches the defaults loadConfig applies', () => {
    const config = loadConfig({});
    expect(VARIABLES.CONFAB_MAX_PROMPT_CHARS.default).toBe(String(config.limits.maxPromptChars));
    expect(VARIABLES.CONFAB_VOTES_TO_CLOSE.default).toBe(String(config.limits.votesToClose));
    expect(VARIABLES.CONFAB_WORKER_PORT.default).toBe(String(config.worker.port));
    expect(VARIABLES.CONFAB_WORKER_TIMEOUT_MS.default).toBe(String(config.worker.timeoutMs));
    expect(VARIABLES.CONFAB_RATE_LIMIT_PER_MINUTE.default).toBe(String(config.limits.rateLimitPerMinute));
    expect(VARIABLES.CONFAB_DECOY_RATE.default).toBe(String(config.limits.decoyRate));
  });

  it('has a row in the README configuration table for every variable', () => {
    const readme = readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');
    for (const name of Object.keys(VARIABLES)) expect(readme, name).toMatch(new RegExp(`^\\| \`${name}\` \\|`, 'm'));
  });
});
