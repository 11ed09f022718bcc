/**
 * The LLM judge client: any OpenAI-compatible chat endpoint reads an explanation beside the
 * prompt and the active SAE features, and answers with a verdict. It implements the core's
 * `Judge` (src/core/labels/signals.ts); `confab start` builds it when `config.judge` is set
 * and hands it to `createServices`.
 */
import { z } from 'zod';
import { JudgeError, type Judge, type JudgeInput } from '../core/labels/signals';

export interface JudgeConfig {
  baseUrl?: string;
  apiKey?: string;
  model: string;
}

/** What the judge must answer: this JSON object and nothing else. */
const JudgeAnswer = z
  .object({
    verdict: z.enum(['faithful', 'confabulated']),
    confidence: z.number().min(0.5).max(1),
  })
  .strict();

/**
 * Parses the judge's reply strictly: one JSON object `{"verdict", "confidence"}` with no other
 * keys, optionally inside a single ```json fence (many chat models add one even when told not
 * to). Anything else — prose, a verdict outside the two labels, a confidence outside [0.5, 1] —
 * is a malformed answer, never a guess.
 */
export function parseJudgeAnswer(content: string | null | undefined): { verdict: 'faithful' | 'confabulated'; confidence: number } {
  if (!content) throw new JudgeError('malformed', 'The judge returned an empty answer.');
  let body = content.trim();
  const fence = /^```(?:json)?\s*\n([\s\S]*?)\n?```$/.exec(body);
  if (fence) body = fence[1].trim();
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new JudgeError('malformed', `The judge's answer is not JSON: ${JSON.stringify(content.slice(0, 120))}.`);
  }
  const parsed = JudgeAnswer.safeParse(value);
  if (!parsed.success) {
    throw new JudgeError(
      'malformed',
      `The judge's answer must be {"verdict": "faithful"|"confabulated", "confidence": 0.5–1}; got ${JSON.stringify(body.slice(0, 120))}.`,
    );
  }
  return parsed.data;
}

const JUDGE_INSTRUCTIONS = [
  'You check explanations of a language model activation for confabulation.',
  'You are given the prompt, the token whose activation was explained, the sparse-autoencoder features that fire there (with their labels and activations), and a natural-language explanation of the same activation.',
  'Decide whether the explanation is faithful (its claims are supported by the prompt context and the features) or confabulated (it asserts things the evidence does not support).',
  'Answer with exactly one JSON object and nothing else: {"verdict": "faithful" or "confabulated", "confidence": a number from 0.5 to 1}.',
].join(' ');

export function judgeMessages(input: JudgeInput): Array<{ role: 'system' | 'user'; content: string }> {
  const features = input.features
    .filter((f) => f.activation > 0)
    .map((f) => `- #${f.index} (${f.activation.toFixed(2)}): ${f.label}`)
    .join('\n');
  return [
    { role: 'system', content: JUDGE_INSTRUCTIONS },
    {
      role: 'user',
      content: `Prompt:\n${input.prompt}\n\nToken: ${JSON.stringify(input.token)}\n\nActive features:\n${features || '(none)'}\n\nExplanation:\n${input.explanation}`,
    },
  ];
}

/**
 * Builds the judge client, or returns null when no judge is configured (the default).
 * `timeoutMs` bounds one request; there are no automatic retries, because the caller (the
 * analysis pipeline) must not stall on a slow judge — a failed judgement is simply absent.
 */
export function createJudge(config: JudgeConfig | undefined, options: { timeoutMs?: number } = {}): Judge | null {
  if (!config) return null;
  const timeoutMs = options.timeoutMs ?? 20_000;
  // Loaded on the first judgement: the judge is off by default, and the openai package is large.
  let loading: Promise<{ OpenAI: typeof import('openai').default; client: import('openai').default }> | undefined;
  const load = () =>
    (loading ??= import('openai').then(({ default: OpenAI }) => ({
      OpenAI,
      client: new OpenAI({
        baseURL: config.baseUrl,
        // Local OpenAI-compatible servers (vLLM, llama.cpp) need no key, but the client insists on one.
        apiKey: config.apiKey ?? 'unused',
        timeout: timeoutMs,
        maxRetries: 0,
      }),
    })));
  return {
    model: config.model,
    async judge(input, signal) {
      const { OpenAI, client } = await load();
      let content: string | null | undefined;
      try {
        const completion = await client.chat.completions.create(
          { model: config.model, messages: judgeMessages(input), temperature: 0, max_tokens: 64 },
          { signal, timeout: timeoutMs },
        );
        content = completion.choices?.[0]?.message?.content;
      } catch (error) {
        if (error instanceof OpenAI.APIConnectionTimeoutError) {
          throw new JudgeError('timeout', `The judge (${config.model}) did not answer within ${timeoutMs} ms.`);
        }
        if (error instanceof OpenAI.APIError) {
          const status = error.status ? `HTTP ${error.status}` : 'no connection';
          throw new JudgeError('unavailable', `The judge (${config.model}) failed: ${status}: ${error.message.split('\n')[0]}`);
        }
        throw error;
      }
      const answer = parseJudgeAnswer(content);
      return {
        ...answer,
        score: answer.verdict === 'faithful' ? answer.confidence : 1 - answer.confidence,
        model: config.model,
      };
    },
  };
}
