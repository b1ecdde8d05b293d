/**
 * Resolves true as soon as `holds()` is true (checked now and each time `subscribe` wakes it),
 * false once `timeoutMs` passed first. `subscribe` registers a wake-up and returns its removal.
 */
export function waitUntil(
  holds: () => boolean,
  subscribe: (wake: () => void) => () => void,
  timeoutMs: number,
): Promise<boolean> {
  if (holds()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(false), timeoutMs);
    const unsubscribe = subscribe(() => {
      if (holds()) finish(true);
    });
    function finish(result: boolean): void {
      clearTimeout(timer);
      unsubscribe();
      resolve(result);
    }
  });
}
