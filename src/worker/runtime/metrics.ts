/**
 * The scores that put the SAE and the NLA on one scale (notes/nla-sae.md, DESIGN.md "Metrics"):
 *   n(v)     = sqrt(d) v / ||v||
 *   mse_nrm  = mean_d (n(r) - n(x))^2 = 2 (1 - cos(r, x))      range 0..4
 *   fve_nrm  = 1 - mse_nrm / B     B = mean_{i,d} (n(x_i) - mu)^2 over the reference set
 * Sums run in float64 so a 3584-d vector loses nothing to float32 accumulation.
 */
import type { ArScore } from '../../protocol/analyze';

export function l2norm(v: ArrayLike<number>, offset = 0, length = v.length - offset): number {
  let s = 0;
  for (let i = offset; i < offset + length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

/** n(v) = sqrt(d) v / ||v||. A zero vector stays zero. */
export function normalizeNrm(v: Float32Array): Float32Array {
  const n = l2norm(v);
  const out = new Float32Array(v.length);
  if (n === 0) return out;
  const k = Math.sqrt(v.length) / n;
  for (let i = 0; i < v.length; i++) out[i] = v[i] * k;
  return out;
}

/** cos(a, b); 0 when either is zero. `aOff`/`bOff` read a row inside a larger buffer. */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>, d = a.length, aOff = 0, bOff = 0): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < d; i++) {
    const x = a[aOff + i];
    const y = b[bOff + i];
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  if (na === 0 || nb === 0) return 0;
  return dot / Math.sqrt(na * nb);
}

export function mseNrmFromCosine(cos: number): number {
  return 2 * (1 - cos);
}

export function fveNrmFromMse(mseNrm: number, B: number): number {
  return 1 - mseNrm / B;
}

/** mean_d (n(r) - n(x))^2 computed directly (equals 2(1 - cos); used to check the identity). */
export function mseNrm(r: Float32Array, x: Float32Array): number {
  const nr = normalizeNrm(r);
  const nx = normalizeNrm(x);
  let s = 0;
  for (let i = 0; i < nr.length; i++) s += (nr[i] - nx[i]) ** 2;
  return s / nr.length;
}

/** The score block every explanation gets, from the AR's cosine. */
export function arScoreFromCosine(cos: number, B: number): ArScore {
  const mse = mseNrmFromCosine(cos);
  return { cosine: cos, mse_nrm: mse, fve_nrm: fveNrmFromMse(mse, B) };
}
