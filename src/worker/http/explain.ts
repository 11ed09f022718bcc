/**
 * `POST /explain`, in the shape of Neuronpedia's NLA server: verbalize the activations of a text
 * (or of a chat, rendered with the subject model's chat template) at some positions, each
 * scored by the AR round trip.
 *
 * As there: no `positions` means every position, negative positions count from the end,
 * results come last-to-first unless `reverse` is false, and `stream: true` answers with
 * server-sent events (a meta frame, one result per position as it is ready, `[DONE]`). It runs
 * through the same queue and batch as `/v1/analyze`, so both routes share one code path.
 */
import { z } from 'zod';
import { decodeActivation, type AnalyzeResponse, type PositionResult, type Token } from '../../protocol/analyze';
import { EngineError, type EngineRequest } from '../engine';
import { renderChat, spanAt, type ChatTokens, type RenderedChat, type TokenSpan } from './chat';
import { ClientGoneError } from './errors';
import { detailError, parseFastApi, readFastApiBody, validationError } from './fastapi';
import { checkTemperature, NLA_LIMITS, NLA_MAX_TEMPERATURE } from './nla-limits';
import type { Route, RouteContext } from './route';
import { openEventStream } from './sse';

/** The most positions one engine request takes. */
const POSITIONS_PER_ANALYZE = 64;

export const ExplainBodySchema = z.object({
  text: z.string().max(NLA_LIMITS.max_input_chars).nullable().optional(),
  messages: z
    .array(z.object({ role: z.string(), content: z.string().default(''), channel: z.string().nullable().optional() }))
    .nullable()
    .optional(),
  positions: z.array(z.number().int()).max(512).nullable().optional(),
  reverse: z.boolean().default(true),
  /** Omitted: greedy, so the same request gives the same description. */
  temperature: z.number().min(0).max(NLA_MAX_TEMPERATURE).optional(),
  max_new_tokens: z.number().int().gt(0).max(4096).optional(),
  stream: z.boolean().default(false),
  add_generation_prompt: z.boolean().default(true),
  continue_final_message: z.boolean().default(false),
  enable_thinking: z.boolean().nullable().optional(),
  /** Not in Neuronpedia's spec: makes sampled descriptions reproducible. */
  seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
});
export type ExplainBody = z.infer<typeof ExplainBodySchema>;

export interface ExplainResult extends TokenSpan {
  token: string;
  token_id: number;
  position: number;
  l2_norm: number;
  description: string;
  mse: number | null;
  cosine_similarity: number | null;
  fve_nrm: number | null;
  generated: boolean;
  fragment_index: number;
  fragment_count: number;
}

export interface ExplainResponse {
  layer_index: number;
  results: ExplainResult[];
}

/** Caps that are lower here than the spec's, refused with the limit named. */
function checkLimits(input: ExplainBody): void {
  const { max_positions_per_request: maxPositions, max_new_tokens: maxNew } = NLA_LIMITS;
  if (input.positions && input.positions.length > maxPositions) {
    throw validationError([{ loc: ['body', 'positions'], msg: `${input.positions.length} positions; this worker's limit is max_positions_per_request = ${maxPositions} (see GET /).`, type: 'too_long' }]);
  }
  if (input.max_new_tokens !== undefined && input.max_new_tokens > maxNew) {
    throw validationError([{ loc: ['body', 'max_new_tokens'], msg: `max_new_tokens is ${input.max_new_tokens}; this worker's limit is ${maxNew} (see GET /).`, type: 'less_than_equal' }]);
  }
}

function resolveText(input: ExplainBody, chatTemplate: string | undefined, tokens: ChatTokens | undefined): { text: string; chat?: RenderedChat } {
  if (input.messages && input.messages.length > 0) {
    if (chatTemplate === undefined) throw detailError(400, 'The subject model\'s tokenizer has no chat template; send `text` instead of `messages`.');
    const chat = renderChat(chatTemplate, input.messages, {
      addGenerationPrompt: input.add_generation_prompt,
      continueFinalMessage: input.continue_final_message,
      enableThinking: input.enable_thinking,
      tokens,
    });
    if (chat.text.length > NLA_LIMITS.max_input_chars) throw detailError(400, `The rendered chat is ${chat.text.length} characters; the limit is ${NLA_LIMITS.max_input_chars}.`);
    if (chat.text === '') throw validationError([{ loc: ['body', 'messages'], msg: 'The rendered chat is empty.', type: 'value_error' }]);
    return { text: chat.text, chat };
  }
  if (!input.text) throw validationError([{ loc: ['body', 'text'], msg: 'Provide either a non-empty `text` or `messages`.', type: 'missing' }]);
  return { text: input.text };
}

/** Every position, or the asked ones resolved against `n` tokens, in the order results are sent. */
function resolvePositions(positions: number[] | null | undefined, n: number, reverse: boolean): number[] {
  const out = positions && positions.length > 0 ? positions.map((p, i) => {
    const at = p < 0 ? n + p : p;
    if (at < 0 || at >= n) throw validationError([{ loc: ['body', 'positions', i], msg: `Position ${p} is out of range; the text has ${n} tokens (0..${n - 1}, or -${n}..-1).`, type: 'value_error' }]);
    return at;
  }) : Array.from({ length: n }, (_, i) => i);
  if (out.length > NLA_LIMITS.max_positions_per_request) {
    throw validationError([{ loc: ['body', 'positions'], msg: `The text has ${n} tokens, and every one of them was asked for; this worker's limit is max_positions_per_request = ${NLA_LIMITS.max_positions_per_request}. Send an explicit \`positions\` list.`, type: 'too_long' }]);
  }
  return reverse ? out.reverse() : out;
}

function l2(activation: string | undefined): number {
  if (activation === undefined) return Number.NaN;
  const v = decodeActivation(activation);
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  return Math.sqrt(sum);
}

function toResult(p: PositionResult, tokens: Token[], chat: RenderedChat | undefined): ExplainResult {
  const explanation = p.explanations[0];
  const token = tokens[p.position];
  const span: TokenSpan = chat ? spanAt(chat, token?.start ?? 0, token?.end ?? 0) : { role: null, section: null, channel: null, message_index: null };
  return {
    token: p.token,
    token_id: token?.id ?? -1,
    position: p.position,
    l2_norm: l2(p.activation),
    description: explanation?.text ?? '',
    mse: explanation ? explanation.ar.mse_nrm : null,
    cosine_similarity: explanation ? explanation.ar.cosine : null,
    fve_nrm: explanation ? explanation.ar.fve_nrm : null,
    generated: false,
    fragment_index: 0,
    fragment_count: 1,
    ...span,
  };
}

function analyzeRequest(text: string, positions: number[], input: ExplainBody, samples: number, chat: RenderedChat | undefined): EngineRequest {
  return {
    prompt: text,
    rendered_chat: chat !== undefined,
    positions,
    top_k: 1,
    nla_samples: samples,
    temperature: input.temperature,
    max_new_tokens: input.max_new_tokens,
    seed: input.seed,
    return_activations: samples > 0,
  };
}

/** The engine's own complaints about the input are validation errors of the body. */
function asValidation(err: unknown, positions?: number[] | null): unknown {
  if (!(err instanceof EngineError) || err.status !== 400) return err;
  if (err.code !== 'bad_position') return validationError([{ loc: ['body', 'text'], msg: err.message, type: 'value_error' }]);
  const asked = Number(/Position (-?\d+)/.exec(err.message)?.[1]);
  const index = positions?.indexOf(asked) ?? -1;
  return validationError([{ loc: index >= 0 ? ['body', 'positions', index] : ['body', 'positions'], msg: err.message, type: 'value_error' }]);
}

async function streamExplain(ctx: RouteContext, input: ExplainBody, text: string, chat: RenderedChat | undefined): Promise<void> {
  const { queue, signal, res, engine } = ctx;
  const probe = await queue.analyze(analyzeRequest(text, [-1], input, 0, chat), signal).catch((err: unknown) => Promise.reject(asValidation(err)));
  const positions = resolvePositions(input.positions, probe.tokens.length, input.reverse);
  const stream = openEventStream(res);
  stream.send({ layer_index: engine.capabilities().layer, total: positions.length, prompt_length: probe.tokens.length });
  try {
    // One engine request per position, so each result leaves as soon as its batch is done.
    await Promise.all(
      positions.map(async (position) => {
        const analysis = await queue.analyze(analyzeRequest(text, [position], input, 1, chat), signal);
        stream.send(toResult(analysis.positions[0], analysis.tokens, chat));
      }),
    );
    stream.end();
  } catch (err) {
    if (err instanceof ClientGoneError || signal.aborted) return;
    stream.end(err instanceof Error ? err.message : String(err));
  }
}

export const explainRoute: Route = {
  method: 'POST',
  path: '/explain',
  auth: true,
  style: 'nla',
  async handle(ctx) {
    const input = parseFastApi(ExplainBodySchema, await readFastApiBody(ctx.body));
    checkLimits(input);
    const caps = ctx.engine.capabilities();
    if (!caps.nla.available) throw detailError(503, 'This worker has no NLA loaded.');
    checkTemperature(input.temperature, caps.nla.av_backend);
    const { text, chat } = resolveText(input, ctx.settings.chatTemplate, ctx.settings.chatTokens);
    if (input.stream) return streamExplain(ctx, input, text, chat);

    let positions: number[];
    if (input.positions && input.positions.length > 0) {
      positions = input.reverse ? [...input.positions].reverse() : input.positions;
    } else {
      const probe = await ctx.queue.analyze(analyzeRequest(text, [-1], input, 0, chat), ctx.signal).catch((err: unknown) => Promise.reject(asValidation(err)));
      positions = resolvePositions(null, probe.tokens.length, input.reverse);
    }
    const chunks: number[][] = [];
    for (let i = 0; i < positions.length; i += POSITIONS_PER_ANALYZE) chunks.push(positions.slice(i, i + POSITIONS_PER_ANALYZE));
    let analyses: AnalyzeResponse[];
    try {
      analyses = await Promise.all(chunks.map((chunk) => ctx.queue.analyze(analyzeRequest(text, chunk, input, 1, chat), ctx.signal)));
    } catch (err) {
      throw asValidation(err, input.positions);
    }
    const response: ExplainResponse = {
      layer_index: analyses[0]?.layer ?? ctx.engine.capabilities().layer,
      results: analyses.flatMap((a) => a.positions.map((p) => toResult(p, a.tokens, chat))),
    };
    return response;
  },
};
