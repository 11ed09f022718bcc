import { describe, expect, it } from 'vitest';
import { exposeGarbageCollector } from '../../src/cli/dataset';

/** Allocates ~20 MB of objects that are garbage once it returns; the heap size while they lived. */
function makeGarbage(): number {
  const rows = Array.from({ length: 200_000 }, (_, i) => ({ i, text: `row ${i}` }));
  return rows.length > 0 ? process.memoryUsage().heapUsed : 0;
}

describe('exposeGarbageCollector (confab dataset export)', () => {
  it('gives a collector that frees garbage now, and leaves no gc global behind', () => {
    const collect = exposeGarbageCollector();
    expect(collect).toBeTypeOf('function');
    const withGarbage = makeGarbage();
    collect!();
    expect(process.memoryUsage().heapUsed).toBeLessThan(withGarbage - 5 * 2 ** 20);
    expect('gc' in globalThis).toBe(false);
    makeGarbage();
    collect!();
    expect(process.memoryUsage().heapUsed).toBeLessThan(withGarbage - 5 * 2 ** 20);
  });
});
