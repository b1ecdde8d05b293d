import type { Transport } from '@libp2p/interface';

/**
 * Wraps the circuit-relay transport so that listening on `/p2p-circuit` (a reservation on a
 * relay among our first peers) starts only after `delayMs()`.
 *
 * At a mass boot every joiner's first and only peer is the member it bootstrapped to: 24
 * reservations there at once (a signed voucher each, then an identify push of the new address)
 * cost ~15-20 % of the join CPU while the cores are saturated, and the relay address is only
 * for members that cannot dial us directly, which the full mesh fills in later anyway
 * (dial-policy.ts). libp2p has no public hook to add a listen address after start, so the
 * listener's `listen` is deferred in place (and `close` cancels a listen not yet started).
 */
export function deferRelayListen<Components>(
  factory: (components: Components) => Transport,
  delayMs: () => number,
): (components: Components) => Transport {
  return (components) => {
    const transport = factory(components);
    const createListener = transport.createListener.bind(transport);
    transport.createListener = (options) => {
      const listener = createListener(options);
      const listen = listener.listen.bind(listener);
      const close = listener.close.bind(listener);
      let timer: NodeJS.Timeout | undefined;
      listener.listen = (address) => {
        timer = setTimeout(() => {
          timer = undefined;
          // Listening on a bare /p2p-circuit only starts relay discovery, which retries on its own.
          listen(address).catch(() => {});
        }, delayMs());
        return Promise.resolve();
      };
      listener.close = () => {
        clearTimeout(timer);
        return close();
      };
      return listener;
    };
    return transport;
  };
}
