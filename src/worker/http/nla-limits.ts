import { AV_MAX_TEMPERATURE } from '../runtime/av-backend';
import { validationError } from './fastapi';

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

/** The highest temperature this worker's AV backend takes: the spec's, or the server's lower cap. */
export function maxTemperature(avBackend: string): number {
  return Math.min(NLA_MAX_TEMPERATURE, AV_MAX_TEMPERATURE[avBackend] ?? NLA_MAX_TEMPERATURE);
}

/** Refused up front, naming the backend's cap, rather than failing at the AV server mid-request. */
export function checkTemperature(temperature: number | undefined, avBackend: string): void {
  const limit = maxTemperature(avBackend);
  if (temperature === undefined || temperature <= limit) return;
  throw validationError([
    { loc: ['body', 'temperature'], msg: `temperature is ${temperature}; this worker's AV backend (${avBackend}) accepts at most ${limit} (limits.max_temperature in GET /).`, type: 'less_than_equal' },
  ]);
}
