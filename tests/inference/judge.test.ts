/**
 * The judge's request and its reading of empty replies, through the real `openai` client
 * against the local OpenAI-compatible fake (which, like OpenAI's reasoning models, refuses the
 * deprecated `max_tokens`).
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { JudgeInput } from '../../src/core/labels/signals';
import { loadConfig } from '../../src/config';
import { createJudge, DEFAULT_JUDGE_MAX_COMPLETION_TOKENS } from '../../src/inference/judge';
import { createLogger } from '../../src/log';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai/server';

const input: JudgeInput = {
  prompt: 'Quien mucho abarca, poco aprieta.',
  token: ' aprieta',
  explanation: 'A Spanish saying about taking on too much.',
  features: [{ index: 12, activation: 2.5, label: 'Spanish proverbs and sayings' }],
};

describe('judge requests and empty replies', () => {
  let fake: FakeOpenAI;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
  });
  afterAll(async () => {
    await fake.close();
  });

  it('sends max_completion_tokens, never the deprecated max_tokens', async () => {
    const judge = createJudge({ baseUrl: fake.baseUrl, model: 'o-judge' }, { timeoutMs: 5000 })!;
    fake.script({ content: '{"verdict":"faithful","confidence":0.8}' });
    await expect(judge.judge(input)).resolves.toMatchObject({ verdict: 'faithful', confidence: 0.8 });
    const body = fake.requests.at(-1)!.body;
    expect(body.max_completion_tokens).toBe(DEFAULT_JUDGE_MAX_COMPLETION_TOKENS);
    expect(body).not.toHaveProperty('max_tokens');
  });

  it('sends the configured budget (CONFAB_JUDGE_MAX_TOKENS)', async () => {
    const config = loadConfig({ CONFAB_JUDGE_MODEL: 'o-judge', OPENAI_BASE_URL: fake.baseUrl, CONFAB_JUDGE_MAX_TOKENS: '4096' });
    expect(config.judge?.maxCompletionTokens).toBe(4096);
    const judge = createJudge(config.judge, { timeoutMs: 5000 })!;
    fake.script({ content: '{"verdict":"confabulated","confidence":0.7}' });
    await judge.judge(input);
    expect(fake.requests.at(-1)!.body.max_completion_tokens).toBe(4096);
  });

  it('refuses a budget that is not a whole number in range, naming the variable', () => {
    for (const bad of ['0', '15', '100001', '1.5', 'lots', '-5']) {
      expect(() => loadConfig({ CONFAB_JUDGE_MODEL: 'o-judge', CONFAB_JUDGE_MAX_TOKENS: bad }), bad).toThrow(/CONFAB_JUDGE_MAX_TOKENS/);
    }
  });

  it('says the budget was spent on thinking, and what to raise, when a reply is empty at the length limit', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = createLogger({ level: 'warn', stream, pretty: false });
    const judge = createJudge({ baseUrl: fake.baseUrl, model: 'o-judge', maxCompletionTokens: 256 }, { timeoutMs: 5000, logger })!;
    fake.script({ content: '', finishReason: 'length', reasoningTokens: 256 });
    const failure = judge.judge(input);
    await expect(failure).rejects.toMatchObject({
      kind: 'malformed',
      message:
        "The judge (o-judge) spent its whole budget of 256 completion tokens (256 of them reasoning) before answering; raise CONFAB_JUDGE_MAX_TOKENS (now 256) or lower the model's reasoning effort.",
    });
    // computeSignals keeps only the kind, so the reason reaches the operator's log.
    await vi.waitFor(() => expect(lines.join('')).toContain('spent its whole budget of 256 completion tokens'));
  });

  it('reads a null content with only reasoning (vLLM with a reasoning parser) at the length limit the same way', async () => {
    const judge = createJudge({ baseUrl: fake.baseUrl, model: 'qwq' }, { timeoutMs: 5000 })!;
    fake.script({ content: null, finishReason: 'length', reasoning: 'Let me weigh the features against the explanation...' });
    await expect(judge.judge(input)).rejects.toThrow(
      `The judge (qwq) spent its whole budget of ${DEFAULT_JUDGE_MAX_COMPLETION_TOKENS} completion tokens on reasoning before answering; raise CONFAB_JUDGE_MAX_TOKENS`,
    );
  });

  it('says an answer cut off mid-way was cut at the budget, not that it was malformed JSON', async () => {
    const judge = createJudge({ baseUrl: fake.baseUrl, model: 'o-judge', maxCompletionTokens: 16 }, { timeoutMs: 5000 })!;
    fake.script({ content: '{"verdict":"faith', finishReason: 'length' });
    await expect(judge.judge(input)).rejects.toThrow('The judge (o-judge) was cut off at its budget of 16 completion tokens, mid-answer; raise CONFAB_JUDGE_MAX_TOKENS (now 16)');
  });

  it('says so when the verdict is only in the reasoning and the answer is empty', async () => {
    const judge = createJudge({ baseUrl: fake.baseUrl, model: 'qwq' }, { timeoutMs: 5000 })!;
    fake.script({ content: '  ', reasoning: '{"verdict":"faithful","confidence":0.9}', reasoningTokens: 40 });
    await expect(judge.judge(input)).rejects.toMatchObject({
      kind: 'malformed',
      message: 'The judge (qwq) answered only in its reasoning, with no final answer; it must end with the JSON verdict outside its reasoning.',
    });
  });

  it('still reports a plain empty answer (no reasoning, not cut off) as empty', async () => {
    const judge = createJudge({ baseUrl: fake.baseUrl, model: 'o-judge' }, { timeoutMs: 5000 })!;
    fake.script({ content: '' });
    await expect(judge.judge(input)).rejects.toMatchObject({ kind: 'malformed', message: 'The judge returned an empty answer.' });
  });

  it('reads the verdict beside reasoning when the answer is there', async () => {
    const judge = createJudge({ baseUrl: fake.baseUrl, model: 'qwq' }, { timeoutMs: 5000 })!;
    fake.script({ content: '{"verdict":"confabulated","confidence":0.95}', reasoning: 'The features say Spanish; the explanation says so too.', reasoningTokens: 30 });
    await expect(judge.judge(input)).resolves.toMatchObject({ verdict: 'confabulated', confidence: 0.95 });
  });
});
