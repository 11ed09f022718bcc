/**
 * What every fake AV server checks about the embeddings it receives, whatever the transport
 * (SGLang's JSON floats, vLLM's torch archive): shape [T][d], the injected row's norm equals
 * injection_scale, the neighbour rows around the site are the sidecar's neighbour tokens, and
 * every other row is the template's embedding row. The expectation is computed by the test from
 * the model files with its own readers, not by the code under test.
 */

export interface AvWireExpectation {
  T: number;
  d: number;
  site: number;
  injectionScale: number;
  /** Embedding rows (times embed_scale) of the template ids, [T*d]; the site row is ignored. */
  templateRows: Float32Array;
  /** Expected rows at site-1 and site+1 (the sidecar's neighbour ids). */
  leftNeighbourRow: Float32Array;
  rightNeighbourRow: Float32Array;
  /** When known, the direction the injected row must point in (cosine ≈ 1). */
  activation?: Float32Array;
}

export interface ReceivedPrompt {
  rows: number;
  cols: number;
  injectedNorm: number;
  /** Cosine between the injected row and `activation`, when given. */
  cosine?: number;
}

/** Returns the list of violations (empty when the wire format is right). */
export function checkAvEmbeds(flat: ArrayLike<number>, shape: number[], expect: AvWireExpectation): { violations: string[]; received: ReceivedPrompt } {
  const violations: string[] = [];
  const [rows, cols] = shape;
  const received: ReceivedPrompt = { rows, cols, injectedNorm: Number.NaN };
  if (shape.length !== 2 || rows !== expect.T || cols !== expect.d) {
    violations.push(`embedding shape is [${shape.join(', ')}], expected [${expect.T}, ${expect.d}]`);
    return { violations, received };
  }
  const row = (t: number) => Array.from({ length: cols }, (_, j) => flat[t * cols + j]);
  for (let i = 0; i < flat.length; i++) {
    if (typeof flat[i] !== 'number' || !Number.isFinite(flat[i])) {
      violations.push(`value ${i} is not a finite number`);
      break;
    }
  }
  const injected = row(expect.site);
  received.injectedNorm = Math.sqrt(injected.reduce((s, x) => s + x * x, 0));
  if (Math.abs(received.injectedNorm - expect.injectionScale) > 1e-4 * expect.injectionScale) {
    violations.push(`injected row ${expect.site} has norm ${received.injectedNorm}, expected injection_scale ${expect.injectionScale}`);
  }
  if (expect.activation) {
    const a = expect.activation;
    const dot = injected.reduce((s, x, j) => s + x * a[j], 0);
    const na = Math.sqrt(a.reduce((s, x) => s + x * x, 0));
    received.cosine = dot / (received.injectedNorm * na);
    if (!(received.cosine > 0.99999)) violations.push(`injected row points elsewhere (cosine ${received.cosine} with the activation)`);
  }
  const close = (a: number[], b: Float32Array) => a.every((x, j) => Math.abs(x - b[j]) <= 1e-6 * Math.max(1, Math.abs(b[j])));
  if (expect.site === 0 || !close(row(expect.site - 1), expect.leftNeighbourRow)) violations.push(`row ${expect.site - 1} is not the left neighbour's embedding`);
  if (expect.site + 1 >= rows || !close(row(expect.site + 1), expect.rightNeighbourRow)) violations.push(`row ${expect.site + 1} is not the right neighbour's embedding`);
  for (let t = 0; t < rows; t++) {
    if (t === expect.site) continue;
    if (!close(row(t), expect.templateRows.subarray(t * cols, (t + 1) * cols))) {
      violations.push(`row ${t} is not the template token's embedding row`);
      break;
    }
  }
  return { violations, received };
}
