const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * Resolves on the first SIGINT or SIGTERM; a second one calls `onRepeat` (e.g. to force the exit
 * of a stop that hangs). The listeners stay registered rather than `once`: signal-exit (loaded
 * by execa while a child program runs) re-raises a signal it sees no other listener for, which
 * would kill the process in the middle of its clean stop.
 */
export function stopSignal(onRepeat: (signal: NodeJS.Signals) => void = () => {}): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received = false;
    const listener = (signal: NodeJS.Signals): void => {
      if (received) onRepeat(signal);
      received = true;
      resolve(signal);
    };
    for (const signal of STOP_SIGNALS) process.on(signal, listener);
  });
}
