/**
 * Where ONNX graphs run. CPU binaries ship inside onnxruntime-node; the CUDA provider library is
 * downloaded only when the package is installed with ONNXRUNTIME_NODE_INSTALL=cuda12 (the
 * project's package.json skips that download, because most machines cannot reach the host).
 * So "cuda" must be checked for before any session is created, and the error must say how to
 * get it.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { EngineError } from '../engine';

export type ExecutionProvider = 'cpu' | 'cuda';

const CUDA_HINT = 'Install it with `ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci` on a host with CUDA 12, or set execution_provider: cpu.';

function ortBinaryDir(): string {
  const require = createRequire(import.meta.url);
  const pkg = path.dirname(require.resolve('onnxruntime-node/package.json'));
  return path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

/** True when onnxruntime-node can run graphs on this provider on this machine. */
export function providerInstalled(provider: ExecutionProvider): boolean {
  if (provider === 'cpu') return true;
  const listed = ort.listSupportedBackends().some((b) => b.name === provider);
  const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  return listed && existsSync(path.join(ortBinaryDir(), lib));
}

export function assertProviderInstalled(provider: ExecutionProvider): void {
  if (provider !== 'cpu' && provider !== 'cuda') {
    throw new EngineError(500, 'bad_provider', `Execution provider "${provider}" is not supported; use cpu or cuda.`);
  }
  if (!providerInstalled(provider)) {
    throw new EngineError(500, 'cuda_missing', `The CUDA execution provider was requested but onnxruntime-node's CUDA provider is not installed. ${CUDA_HINT}`);
  }
}

export interface SessionTuning {
  /** One thread is fastest for this worker's small single requests (notes/toolchain.md). */
  intraOpNumThreads?: number;
}

/** `bytes`, when given, is the graph to load (a rewrite of `file`); `file` names it in errors. */
export async function createSession(file: string, provider: ExecutionProvider, tuning: SessionTuning = {}, bytes?: Uint8Array): Promise<ort.InferenceSession> {
  assertProviderInstalled(provider);
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: [provider],
    logSeverityLevel: 3,
    intraOpNumThreads: tuning.intraOpNumThreads ?? 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  };
  try {
    return await (bytes ? ort.InferenceSession.create(bytes, options) : ort.InferenceSession.create(file, options));
  } catch (err) {
    const msg = (err as Error).message;
    if (provider === 'cuda') throw new EngineError(500, 'cuda_failed', `${file}: could not start on CUDA (${msg}). ${CUDA_HINT}`);
    throw new EngineError(500, 'bad_model', `${file}: onnxruntime could not load the graph (${msg})`);
  }
}

/** Names of a session's inputs/outputs, checked against what the manifest promises. */
export function requireNames(session: ort.InferenceSession, file: string, inputs: string[], outputs: string[]): void {
  for (const n of inputs) {
    if (!session.inputNames.includes(n)) throw new EngineError(500, 'bad_model', `${file}: graph has no input "${n}" (it has ${session.inputNames.join(', ')})`);
  }
  for (const n of outputs) {
    if (!session.outputNames.includes(n)) throw new EngineError(500, 'bad_model', `${file}: graph has no output "${n}" (it has ${session.outputNames.join(', ')})`);
  }
}

export { ort };
