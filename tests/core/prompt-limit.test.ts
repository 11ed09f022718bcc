/**
 * The limits a user meets come from the model: /explain asks the worker to count the prompt's
 * tokens and refuses, before anything is queued, a prompt the model cannot read (in tokens,
 * with the limit) or a position beyond the prompt (with its token count); /settings cannot
 * raise max_prompt_chars past what the model reads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { queryRows } from '../../db';
import { REFERENCE_MODELS } from '../../src/config';
import { createEmbeddedInferenceClient, type EmbeddedInferenceClient } from '../../src/cli/embedded-worker';
import { createServices, type Services } from '../../src/core/app';
import type { AnalysisBackend } from '../../src/core/backend';
import type { AnalysisView } from '../../src/core/view';
import { silentLogger } from '../../src/log';
import { createEngine } from '../../src/worker/runtime/engine';
import { createTestDatabase, testConfig, type TestDatabase } from '../db/support';
import { actor, explainAndWait, run, runError } from './helpers';

let client: EmbeddedInferenceClient;
let database: TestDatabase;
let services: Services;
/** When set, counting fails as an unreachable worker would. */
let countingDown = false;

const admin = actor('ada', { isAdmin: true });
const analysisCount = async () => (await queryRows<{ n: number }>(services.database.db, sql`select count(*)::int as n from analyses`))[0].n;

beforeAll(async () => {
  const engine = await createEngine(REFERENCE_MODELS, { executionProvider: 'cpu' });
  client = await createEmbeddedInferenceClient({ engine, timeoutMs: 30_000 });
  database = await createTestDatabase('pglite');
  const backend: AnalysisBackend = {
    analyze: (r, s) => client.analyze(r, s),
    countTokens: (prompt, signal) => {
      if (countingDown) return Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { status: 503, retryable: true }));
      return client.countTokens!(prompt, signal);
    },
    capabilities: (signal) => client.capabilities(signal),
  };
  services = await createServices(testConfig(database.target, { CONFAB_RATE_LIMIT_PER_MINUTE: '100' }), { backend, logger: silentLogger });
}, 180_000);
afterAll(async () => {
  await services?.close();
  await database?.drop();
  await client?.close();
});

describe('limits from the model, before queueing', () => {
  it('refuses a prompt over the context in tokens, with the limit, and queues nothing', async () => {
    // Inside the character limits (80 UTF-16 units), but 160 byte tokens.
    const error = await runError(services, actor('alice'), 'explain', { prompt: '🍕'.repeat(40) });
    expect(error).toMatchObject({ code: 'prompt_too_long', message: 'Prompt is 161 tokens (with BOS); the limit is 128.' });
    // A normal paragraph under the 2,000-character setting, over what the model reads.
    const paragraph = await runError(services, actor('alice'), 'explain', { prompt: 'The quick brown fox jumps over the lazy dog. '.repeat(4) });
    expect(paragraph.code).toBe('prompt_too_long');
    expect(paragraph.message).toMatch(/this model reads at most 128 tokens/);
    expect(await analysisCount()).toBe(0);
  });

  it('refuses a position beyond the prompt with its token count, and accepts the last one', async () => {
    const error = await runError(services, actor('alice'), 'explain', { prompt: 'Short', position: 50 });
    expect(error).toMatchObject({ code: 'bad_position', message: 'Position 50 is outside the prompt: it is 6 tokens long (positions 0 to 5, or -6 to -1 from the end).' });
    expect((await runError(services, actor('alice'), 'explain', { prompt: 'Short', position: -7 })).code).toBe('bad_position');
    expect(await analysisCount()).toBe(0);
    const edge: AnalysisView = await explainAndWait(services, actor('alice'), { prompt: 'Short', position: -6, samples: 1 });
    expect(edge.status).toBe('done');
    expect(edge.positions[0].position).toBe(0);
    const last: AnalysisView = await explainAndWait(services, actor('alice'), { prompt: 'Short', position: 5, samples: 1 });
    expect(last.positions[0].position).toBe(5);
  });

  it('queues when the worker cannot count now, and the worker still refuses at run time', async () => {
    countingDown = true;
    try {
      const failed = await explainAndWait(services, actor('alice'), { prompt: '🍕'.repeat(40) });
      expect(failed).toMatchObject({ status: 'failed', retryable: false });
      expect(failed.error).toMatch(/161 tokens/);
    } finally {
      countingDown = false;
    }
  });

  it('/settings refuses max_prompt_chars above what the model reads, naming its limit', async () => {
    const caps = await client.capabilities();
    expect(caps.max_prompt_chars).toBe(127);
    const error = await runError(services, admin, 'settings', { max_prompt_chars: 2_000 });
    expect(error).toMatchObject({
      code: 'invalid_setting',
      message: `max_prompt_chars can be at most 127: the model ${caps.model} reads at most 128 tokens, which is at most 127 characters; got 2,000.`,
    });
    const ok = await run(services, admin, 'settings', { max_prompt_chars: 127 });
    expect(ok.view).toMatchObject({ kind: 'settings', changed: ['max_prompt_chars'] });
    // Out of the setting's own range: its own message still wins.
    expect((await runError(services, admin, 'settings', { max_prompt_chars: 0 })).code).toBe('invalid_option');
  });
});
