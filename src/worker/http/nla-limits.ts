/**
 * The request caps of the Neuronpedia NLA routes, advertised in `GET /` so a client can check
 * a request before sending it. Where this worker's cap is below what Neuronpedia's spec allows
 * (positions per request, max_new_tokens, describe batch), a request beyond it gets a 422 that
 * names the limit.
 */
export const NLA_LIMITS = {
  /** The spec's own cap on `text`. */
  max_input_chars: 65_536,
  /** Each position is one AV generation; the reference stack's whole context fits. */
  max_positions_per_request: 128,
  /** The engine's cap on a generation. */
  max_new_tokens: 1024,
  max_describe_batch: 64,
  /** The spec's own cap on `/score`'s description. */
  max_description_chars: 8192,
  /** This worker has no /completion route; reported as the spec's clamp. */
  max_completion_tokens: 512,
} as const;

/** Neuronpedia's default temperature; omitted here it means greedy, Confab's reproducible default. */
export const NLA_MAX_TEMPERATURE = 5;
