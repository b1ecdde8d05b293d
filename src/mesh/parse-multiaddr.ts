import type { PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';

/** A multiaddr from text learned from peers or flags, or undefined when it is not one. */
export function parseMultiaddr(address: string): Multiaddr | undefined {
  try {
    return multiaddr(address);
  } catch {
    return undefined;
  }
}

/** What to dial for a member: the addresses it told the mesh, else its id (libp2p's peer store). */
export function dialTarget(peerId: string, addresses: string[]): Multiaddr[] | PeerId {
  const parsed = addresses.flatMap((address) => parseMultiaddr(address) ?? []);
  return parsed.length > 0 ? parsed : peerIdFromString(peerId);
}
