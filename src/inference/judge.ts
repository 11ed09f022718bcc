/**
 * The LLM judge client: any OpenAI-compatible chat endpoint reads an explanation beside the
 * prompt and the active SAE features, and answers with a verdict. It implements the core's
 * `Judge` (src/core/labels/signals.ts); `confab start` builds it when `config.judge` is set
 * and hands it to `createServices`.
 */
import { z } from 'zod';
import { JudgeError, type Judge, type JudgeInput } from '../core/labels/signals';
import { silentLogger, type Logger } from '../log';

export interface JudgeConfig {
  baseUrl?: string;
  apiKey?: string;
  model: string;
  /** `max_completion_tokens`: a reasoning model spends its thinking from the same budget. */
  maxCompletionTokens?: number;
}

/** Room for a reasoning model's thinking before the one-line answer. */
export const DEFAULT_JUDGE_MAX_COMPLETION_TOKENS = 1024;

/** The part of a chat completion that tells why its answer is empty. */
interface JudgeReply {
  content: string | null | undefined;
  finishReason: string | null | undefined;
  /** vLLM's `reasoning_content`, or `reasoning` (newer vLLM, OpenRouter). */
  reasoning: string | undefined;
  reasoningTokens: number | undefined;
}

/**
 * A reply with no answer because the model thought until the budget ran out, or answered only
 * in its reasoning, says so and names the setting to raise; a plain malformed answer is left
 * to `parseJudgeAnswer`.
 */
export function explainEmptyReply(model: string, budget: number, reply: JudgeReply): JudgeError | null {
  const thought = reply.reasoningTokens ? ` (${reply.reasoningTokens} of them reasoning)` : reply.reasoning ? ' on reasoning' : '';
  const raise = `raise CONFAB_JUDGE_MAX_TOKENS (now ${budget}) or lower the model's reasoning effort`;
  const empty = !reply.content || reply.content.trim() === '';
  if (reply.finishReason === 'length' && empty) {
    return new JudgeError('malformed', `The judge (${model}) spent its whole budget of ${budget} completion tokens${thought} before answering; ${raise}.`);
  }
  if (reply.finishReason === 'length') {
    return new JudgeError('malformed', `The judge (${model}) was cut off at its budget of ${budget} completion tokens${thought}, mid-answer; ${raise}.`);
  }
  if (empty && (reply.reasoning || reply.reasoningTokens)) {
    return new JudgeError('malformed', `The judge (${model}) answered only in its reasoning, with no final answer; it must end with the JSON verdict outside its reasoning.`);
  }
  return null;
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
export function createJudge(config: JudgeConfig | undefined, options: { timeoutMs?: number; logger?: Logger } = {}): Judge | null {
  if (!config) return null;
  const timeoutMs = options.timeoutMs ?? 20_000;
  const budget = config.maxCompletionTokens ?? DEFAULT_JUDGE_MAX_COMPLETION_TOKENS;
  const log = options.logger ?? silentLogger;
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
  const judgeOnce = async (input: JudgeInput, signal?: AbortSignal) => {
    const { OpenAI, client } = await load();
    let reply: JudgeReply;
    try {
      // `max_tokens` is deprecated, and OpenAI's reasoning models refuse it; vLLM takes either.
      const completion = await client.chat.completions.create(
        { model: config.model, messages: judgeMessages(input), temperature: 0, max_completion_tokens: budget },
        { signal, timeout: timeoutMs },
      );
      const choice = completion.choices?.[0];
      const message = choice?.message as (typeof choice.message & { reasoning_content?: unknown; reasoning?: unknown }) | undefined;
      const reasoning = [message?.reasoning_content, message?.reasoning].find((r): r is string => typeof r === 'string' && r.trim() !== '');
      reply = {
        content: message?.content,
        finishReason: choice?.finish_reason,
        reasoning,
        reasoningTokens: completion.usage?.completion_tokens_details?.reasoning_tokens,
      };
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
    const empty = explainEmptyReply(config.model, budget, reply);
    if (empty) throw empty;
    const answer = parseJudgeAnswer(reply.content);
    return {
      ...answer,
      score: answer.verdict === 'faithful' ? answer.confidence : 1 - answer.confidence,
      model: config.model,
    };
  };
  return {
    model: config.model,
    async judge(input, signal) {
      try {
        return await judgeOnce(input, signal);
      } catch (error) {
        // computeSignals keeps only the kind; the operator needs the reason.
        if (error instanceof JudgeError) log.warn({ model: config.model, kind: error.kind }, error.message);
        throw error;
      }
    },
  };
}
