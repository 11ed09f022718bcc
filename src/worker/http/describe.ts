/**
 * `POST /describe`, in the shape of Neuronpedia's NLA server: verbalize raw activation vectors
 * (no prompt), each scored by the AR round trip; `stream: true` sends each vector's result as a
 * server-sent event when it is ready.
 *
 * Beyond the spec, and ignored by its clients: `n` verbalizations per vector (`samples`),
 * `seed`, the raw text and whether its tags parsed, and `fve_nrm`.
 */
import { z } from 'zod';
import type { Explanation } from '../../protocol/analyze';
import { detailError, parseFastApi, readFastApiBody, validationError } from './fastapi';
import { checkTemperature, NLA_LIMITS, NLA_MAX_TEMPERATURE } from './nla-limits';
import type { Route } from './route';
import { openEventStream } from './sse';
import { ActivationError, toActivation } from './vectors';

/** The reference client's default; generation stops earlier at EOS or `</explanation>`. */
const DEFAULT_MAX_NEW_TOKENS = 200;

export const DescribeBodySchema = z.object({
  activations: z.array(z.array(z.number())).min(1, 'activations: send at least one vector').max(512),
  /** Verbalizations per vector. */
  n: z.number().int().min(1).max(16).default(1),
  temperature: z.number().min(0).max(NLA_MAX_TEMPERATURE).optional(),
  max_new_tokens: z.number().int().gt(0).max(4096).default(DEFAULT_MAX_NEW_TOKENS),
  stream: z.boolean().default(false),
  seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
});

function sample(e: Explanation) {
  return { description: e.text, raw: e.raw, parsed: e.parsed, mse: e.ar.mse_nrm, cosine_similarity: e.ar.cosine, fve_nrm: e.ar.fve_nrm };
}

export const describeRoute: Route = {
  method: 'POST',
  path: '/describe',
  auth: true,
  style: 'nla',
  async handle({ body, engine, queue, signal, res }) {
    const input = parseFastApi(DescribeBodySchema, await readFastApiBody(body));
    if (input.activations.length > NLA_LIMITS.max_describe_batch) {
      throw validationError([{ loc: ['body', 'activations'], msg: `${input.activations.length} vectors; this worker's limit is max_describe_batch = ${NLA_LIMITS.max_describe_batch} (see GET /).`, type: 'too_long' }]);
    }
    if (input.max_new_tokens > NLA_LIMITS.max_new_tokens) {
      throw validationError([{ loc: ['body', 'max_new_tokens'], msg: `max_new_tokens is ${input.max_new_tokens}; this worker's limit is ${NLA_LIMITS.max_new_tokens} (see GET /).`, type: 'less_than_equal' }]);
    }
    const caps = engine.capabilities();
    if (!caps.nla.available) throw detailError(503, 'This worker has no NLA loaded.');
    checkTemperature(input.temperature, caps.nla.av_backend);
    const vectors = input.activations.map((values, i) => {
      try {
        return toActivation(values, caps.d_model, `activations[${i}]`);
      } catch (err) {
        if (err instanceof ActivationError) throw validationError([{ loc: ['body', 'activations', i, ...err.at], msg: err.message, type: 'value_error' }]);
        throw err;
      }
    });
    const sampling = {
      samples: input.n,
      temperature: input.temperature ?? (input.n > 1 ? 1 : 0),
      maxNewTokens: input.max_new_tokens,
      seed: input.seed,
    };
    if (!input.stream) {
      const described = await queue.task((s) => engine.describe(vectors, sampling, s), signal);
      return {
        layer_index: caps.layer,
        results: described.map((explanations) => {
          const samples = explanations.map(sample);
          return { ...samples[0], samples };
        }),
      };
    }
    const stream = openEventStream(res);
    try {
      // One engine job per vector, so each result leaves as soon as it is ready.
      await Promise.all(
        vectors.map(async (vector, index) => {
          const [explanations] = await queue.task((s) => engine.describe([vector], sampling, s), signal);
          const samples = explanations.map(sample);
          stream.send({ index, ...samples[0], samples });
        }),
      );
      stream.end();
    } catch (err) {
      if (!signal.aborted) stream.end(err instanceof Error ? err.message : String(err));
    }
    return undefined;
  },
};
