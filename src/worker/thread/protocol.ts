/**
 * Messages between the worker's event loop and the engine thread (`host.ts`). Everything crosses
 * by structured clone; errors cross as plain objects and are rebuilt on the other side, so an
 * EngineError keeps its status and code and a ManifestError its name.
 */
import type { AnalyzeResponse, ArScore, Capabilities, Explanation } from '../../protocol/analyze';
import type { EngineRequest, SamplingOptions, TopkByTokenResult } from '../engine';
import type { ExecutionProvider } from '../runtime/execution';

export interface HostConfig {
  manifestPath: string;
  executionProvider?: ExecutionProvider;
  version?: string;
}

/** What the engine thread can be asked to do: the Engine interface, minus capabilities(). */
export interface EngineCalls {
  analyzeBatch: { args: [EngineRequest[]]; result: Array<AnalyzeResponse | SerializedError> };
  describe: { args: [Float32Array[], SamplingOptions]; result: Explanation[][] };
  score: { args: [Array<{ text: string; vector: Float32Array }>]; result: ArScore[] };
  topkByToken: { args: [string, number, boolean]; result: TopkByTokenResult };
  countTokens: { args: [string]; result: number };
  close: { args: []; result: void };
}
export type CallName = keyof EngineCalls;

export interface SerializedError {
  __error: true;
  name: string;
  message: string;
  stack?: string;
  /** EngineError only. */
  status?: number;
  code?: string;
}

export type ToHost =
  | { type: 'call'; id: number; op: CallName; args: unknown[] }
  /** The caller's signal fired: the engine stops at its next check. */
  | { type: 'abort'; id: number };

export type FromHost =
  | { type: 'ready'; capabilities: Capabilities }
  | { type: 'failed'; error: SerializedError }
  | { type: 'result'; id: number; value: unknown }
  | { type: 'error'; id: number; error: SerializedError };
