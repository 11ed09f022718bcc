/**
 * Checking activation vectors that arrive as JSON, before they reach the engine.
 */
import { z } from 'zod';

/** JSON numbers; `1e999` parses to Infinity, so finiteness is checked after conversion too. */
export const VectorSchema = z.array(z.number()).min(1, 'a vector needs at least one value');

/** A vector that cannot be used; `at` is the index of the bad value, when one is to blame. */
export class ActivationError extends Error {
  constructor(
    message: string,
    readonly at: number[] = [],
  ) {
    super(message);
    this.name = 'ActivationError';
  }
}

/**
 * Convert to float32 and check it. A value that is finite as a double can still overflow
 * float32 (1e39), and an all-zero vector has no direction to rescale to `injection_scale`.
 */
export function toActivation(values: number[], dModel: number, field: string): Float32Array {
  if (values.length !== dModel) throw new ActivationError(`${field} has ${values.length} values; this worker's model has d_model ${dModel}.`);
  const v = Float32Array.from(values);
  let sumSq = 0;
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) throw new ActivationError(`${field}[${i}] is ${values[i]}, which is not a finite float32; every value must be finite.`, [i]);
    sumSq += v[i] * v[i];
  }
  if (sumSq === 0) throw new ActivationError(`${field} is all zeros; an activation needs a direction.`);
  return v;
}
