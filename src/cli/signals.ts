/**
 * Shutdown on SIGINT (Ctrl-C) and SIGTERM (docker stop, systemd): the first signal starts a
 * clean shutdown. A second one exits at once, for a shutdown that hangs, unless the caller
 * passes `onRepeat`: a process whose threads may be inside a native call that must not be torn
 * down (an ONNX Runtime run) hurries its shutdown instead, and exits when that call returns.
 */
export interface ShutdownOptions {
  /** Called on every signal after the first, instead of exiting. */
  onRepeat?: (signal: NodeJS.Signals) => void;
}

export function onShutdownSignal(log: { warn(message: string): void }, options: ShutdownOptions = {}): { signalled: Promise<NodeJS.Signals>; dispose(): void } {
  let resolve!: (signal: NodeJS.Signals) => void;
  const signalled = new Promise<NodeJS.Signals>((r) => (resolve = r));
  let count = 0;
  const handler = (signal: NodeJS.Signals) => {
    count++;
    if (count === 1) {
      const again = options.onRepeat ? 'send it again to stop the running work at its next step' : 'send it again to exit at once';
      log.warn(`${signal} received; shutting down (${again}).`);
      resolve(signal);
    } else if (options.onRepeat) {
      options.onRepeat(signal);
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signalled,
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
