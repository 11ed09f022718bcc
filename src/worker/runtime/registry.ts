/**
 * AV and AR backends by name, as the manifest's `nla.av.backend` / `nla.ar.backend` says.
 * The engine never imports a remote backend: the worker's entry point registers `sglang`,
 * `vllm`, `neuronpedia`..., and `onnx` registers itself here. That keeps the runtime free of
 * HTTP clients and lets a deployment add a backend without touching the engine.
 *
 *   registerAvBackend('sglang', ({ spec }) => createSglangAvBackend(spec.options as SglangOptions));
 *
 * `spec.options` is the manifest's whole `nla.av` (or `nla.ar`) section, so backend-specific
 * keys (url, timeout_ms, ...) live there beside path/backend.
 */
import { EngineError } from '../engine';
import type { ArBackend, AvBackend } from './av-backend';
import type { ExecutionProvider } from './execution';
import type { ArSpec, AvSpec, ModelManifest } from './manifest';
import type { Tokenizer } from './tokenizer';

export interface AvBackendContext {
  manifest: ModelManifest;
  spec: AvSpec;
  /** The AV's tokenizer (decode of generated ids, stop strings). */
  tokenizer: Tokenizer;
  executionProvider: ExecutionProvider;
}

export interface ArBackendContext {
  manifest: ModelManifest;
  spec: ArSpec;
  tokenizer: Tokenizer;
  executionProvider: ExecutionProvider;
}

export type AvBackendFactory = (ctx: AvBackendContext) => AvBackend | Promise<AvBackend>;
export type ArBackendFactory = (ctx: ArBackendContext) => ArBackend | Promise<ArBackend>;

const avFactories = new Map<string, AvBackendFactory>();
const arFactories = new Map<string, ArBackendFactory>();

export function registerAvBackend(name: string, factory: AvBackendFactory): void {
  avFactories.set(name, factory);
}

export function registerArBackend(name: string, factory: ArBackendFactory): void {
  arFactories.set(name, factory);
}

export function registeredBackends(): { av: string[]; ar: string[] } {
  return { av: [...avFactories.keys()].sort(), ar: [...arFactories.keys()].sort() };
}

export async function createAvBackend(ctx: AvBackendContext): Promise<AvBackend> {
  const factory = avFactories.get(ctx.spec.backend);
  if (!factory) {
    throw new EngineError(500, 'unknown_backend', `${ctx.manifest.file}: nla.av.backend "${ctx.spec.backend}" is not registered; known: ${registeredBackends().av.join(', ')}.`);
  }
  return factory(ctx);
}

export async function createArBackend(ctx: ArBackendContext): Promise<ArBackend> {
  const factory = arFactories.get(ctx.spec.backend);
  if (!factory) {
    throw new EngineError(500, 'unknown_backend', `${ctx.manifest.file}: nla.ar.backend "${ctx.spec.backend}" is not registered; known: ${registeredBackends().ar.join(', ')}.`);
  }
  return factory(ctx);
}
