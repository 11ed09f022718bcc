/**
 * Registers the remote NLA backends with the runtime's registry, under the names a manifest
 * uses in `nla.av.backend` / `nla.ar.backend`. Their options are keys of that same manifest
 * section, e.g.
 *
 *   nla:
 *     av: {path: nla/av, backend: vllm, url: "http://gpu-1:8000", model: qwen-av, embeddings: ...}
 *     ar: {path: nla/ar, backend: neuronpedia, url: "http://gpu-1:5001"}
 */
import { registerArBackend, registerAvBackend } from '../runtime/registry';
import { createNeuronpediaArBackend, NeuronpediaArOptionsSchema } from './neuronpedia-ar';
import { createSglangAvBackend, SglangOptionsSchema } from './sglang';
import { createVllmAvBackend, VllmOptionsSchema } from './vllm';
import { ManifestError } from '../runtime/manifest-files';
import type { z } from 'zod';

export { createSglangAvBackend } from './sglang';
export { createVllmAvBackend } from './vllm';
export { createNeuronpediaArBackend } from './neuronpedia-ar';
export { torchSaveFloat32 } from './torch-archive';

let registered = false;

export function registerRemoteBackends(): void {
  if (registered) return;
  registered = true;
  registerAvBackend('sglang', ({ manifest, spec }) => createSglangAvBackend(pick(SglangOptionsSchema, spec.options, manifest.file, 'nla.av')));
  registerAvBackend('vllm', ({ manifest, spec }) => createVllmAvBackend(pick(VllmOptionsSchema, spec.options, manifest.file, 'nla.av')));
  registerArBackend('neuronpedia', ({ manifest, spec }) =>
    createNeuronpediaArBackend(pick(NeuronpediaArOptionsSchema, spec.options, manifest.file, 'nla.ar')),
  );
}

/** Validate the backend's keys of a manifest section, naming the file and key on error. */
function pick<S extends z.ZodObject>(schema: S, options: Record<string, unknown>, file: string, section: string): z.input<S> {
  const keys = Object.keys(schema.shape);
  const subset = Object.fromEntries(Object.entries(options).filter(([k]) => keys.includes(k)));
  const parsed = schema.safeParse(subset);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ManifestError(file, `${section}.${issue.path.join('.')}`, issue.message);
  }
  return subset as z.input<S>;
}
