/**
 * A full garbage collection on request, for the dataset export's bounded memory.
 *
 * An export allocates fast and keeps little: about 35 MB stay live while rows are written (the
 * labels, one chunk, one row group), yet V8 let the heap grow to 200-250 MB of garbage before
 * collecting it, because it sizes the next collection on the allocation rate. A full collection
 * every few thousand rows keeps the process near its live size for a few percent of the time.
 *
 * `gc` is exposed the way test runners expose it in a running process (the flag, then a fresh
 * context's global), and the flag is turned off again so that no other code sees a `gc` global.
 * Where that is refused, collecting is skipped and the export only uses more memory.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

let gc: (() => void) | null | undefined;

export function collectGarbage(): void {
  if (gc === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      gc = vm.runInNewContext('gc') as () => void;
      v8.setFlagsFromString('--no-expose-gc');
    } catch {
      gc = null;
    }
  }
  gc?.();
}
