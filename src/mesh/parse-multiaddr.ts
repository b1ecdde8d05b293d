import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';

/** A multiaddr from text learned from peers or flags, or undefined when it is not one. */
export function parseMultiaddr(address: string): Multiaddr | undefined {
  try {
    return multiaddr(address);
  } catch {
    return undefined;
  }
}
