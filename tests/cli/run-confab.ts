/**
 * Runs the real `confab` executable (node bin/confab.mjs) in a child process, as a user would,
 * with an environment cleaned of any Confab variables of the machine running the tests and a
 * working directory of its own (so a developer's .env is not read).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const CONFAB_BIN = path.resolve(import.meta.dirname, '../../bin/confab.mjs');

const CONFAB_PREFIXES = ['CONFAB_', 'DATABASE_URL', 'WORKER_URLS', 'DISCORD_', 'SLACK_', 'OPENAI_', 'NO_COLOR'];

/** The test process's environment without Confab's variables, plus `extra`; `null` removes one. */
export function cleanEnv(extra: Record<string, string | null> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !CONFAB_PREFIXES.some((p) => key.startsWith(p))) env[key] = value;
  }
  for (const [key, value] of Object.entries(extra)) {
    if (value === null) delete env[key];
    else env[key] = value;
  }
  return env;
}

const created: string[] = [];

export function tempDir(prefix = 'confab-cli-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  created.push(dir);
  return dir;
}

const started = new Set<ChildProcess>();

/**
 * For afterAll: kills any process this file started that is still running (a test that failed
 * half-way must not leave Confab behind), then removes every directory tempDir made.
 */
export function cleanUp(): void {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  started.clear();
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export interface ConfabRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ConfabProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout contains `text` (or rejects after `timeoutMs`). */
  waitForOutput(text: string | RegExp, timeoutMs?: number): Promise<void>;
  done: Promise<ConfabRun>;
}

export interface StartOptions {
  env?: Record<string, string | null>;
  cwd?: string;
  /** Run as this user and group (the test process must be root): for checks that root's rights would skip. */
  uid?: number;
  gid?: number;
}

export function startConfab(args: string[], options: StartOptions = {}): ConfabProcess {
  return startProcess(process.execPath, [CONFAB_BIN, ...args], options);
}

/** Any command, with the same clean environment and output capture (e.g. confab under `script`). */
export function startProcess(command: string, args: string[], options: StartOptions = {}): ConfabProcess {
  const child = spawn(command, args, {
    cwd: options.cwd ?? tempDir(),
    env: cleanEnv(options.env),
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid ?? options.uid } : {}),
  });
  started.add(child);
  let stdout = '';
  let stderr = '';
  const watchers = new Set<() => void>();
  child.stdout!.on('data', (chunk) => {
    stdout += String(chunk);
    for (const check of watchers) check();
  });
  child.stderr!.on('data', (chunk) => (stderr += String(chunk)));
  const done = new Promise<ConfabRun>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    done,
    waitForOutput(text, timeoutMs = 30_000) {
      return new Promise<void>((resolve, reject) => {
        const matches = () => (typeof text === 'string' ? stdout.includes(text) : text.test(stdout));
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error(`confab did not print ${String(text)} within ${timeoutMs} ms.\nstdout:\n${stdout}\nstderr:\n${stderr}`));
        }, timeoutMs);
        const check = () => {
          if (matches()) {
            clearTimeout(timer);
            watchers.delete(check);
            resolve();
          }
        };
        watchers.add(check);
        check();
      });
    },
  };
}

/** Runs confab to completion with `input` on stdin. */
export async function runConfab(args: string[], options: StartOptions & { input?: string } = {}): Promise<ConfabRun> {
  const run = startConfab(args, options);
  run.child.stdin!.end(options.input ?? '');
  return run.done;
}
