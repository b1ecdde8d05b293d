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

/** The IP host and TCP port of a multiaddr (`/ip4|ip6/H/tcp/P/...`; 0: any port), or undefined. */
export function tcpEndpoint(address: Multiaddr): { host: string; port: number } | undefined {
  const [ip, tcp] = address.getComponents();
  if ((ip?.name !== 'ip4' && ip?.name !== 'ip6') || tcp?.name !== 'tcp' || ip.value === undefined) {
    return undefined;
  }
  const port = Number(tcp.value);
  return Number.isInteger(port) && port >= 0 && port <= 65535 ? { host: ip.value, port } : undefined;
}

/** The peer id a multiaddr ends with (`/p2p/<id>`), or undefined. */
export function peerIdOf(address: Multiaddr): string | undefined {
  return address.getComponents().findLast((component) => component.name === 'p2p')?.value;
}
