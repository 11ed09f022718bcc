import { describe, expect, it } from 'vitest';
import { collectGarbage } from '../../src/core/dataset/reclaim';

/** Allocates ~20 MB of objects that are garbage once it returns; the heap size while they lived. */
function makeGarbage(): number {
  const rows = Array.from({ length: 200_000 }, (_, i) => ({ i, text: `row ${i}` }));
  return rows.length > 0 ? process.memoryUsage().heapUsed : 0;
}

describe('collectGarbage', () => {
  it('frees garbage now, and leaves no gc global behind', () => {
    const withGarbage = makeGarbage();
    collectGarbage();
    expect(process.memoryUsage().heapUsed).toBeLessThan(withGarbage - 5 * 2 ** 20);
    expect('gc' in globalThis).toBe(false);
    // Later calls reuse the same function.
    collectGarbage();
    expect(process.memoryUsage().heapUsed).toBeLessThan(withGarbage - 5 * 2 ** 20);
  });
});
