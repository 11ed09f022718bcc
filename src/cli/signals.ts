/**
 * Shutdown on SIGINT (Ctrl-C) and SIGTERM (docker stop, systemd): the first signal starts a
 * clean shutdown; a second one exits at once, for a shutdown that hangs.
 */
export function onShutdownSignal(log: { warn(message: string): void }): { signalled: Promise<NodeJS.Signals>; dispose(): void } {
  let resolve!: (signal: NodeJS.Signals) => void;
  const signalled = new Promise<NodeJS.Signals>((r) => (resolve = r));
  let count = 0;
  const handler = (signal: NodeJS.Signals) => {
    count++;
    if (count === 1) {
      log.warn(`${signal} received; shutting down (send it again to exit at once).`);
      resolve(signal);
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
