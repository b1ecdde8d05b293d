import type { WgPeerState } from './wg-dump.ts';

/** A peer as the reconciler wants it on the interface. */
export interface DesiredPeer {
  publicKey: string;
  allowedIps: string[];
  keepalive: number;
  endpoint?: string | undefined;
  /**
   * Set the endpoint even when the peer exists. False leaves WireGuard's own roaming alone:
   * it moves the endpoint to wherever authenticated packets come from.
   */
  applyEndpoint: boolean;
  /** Remove and re-add the peer: drops its session so WireGuard handshakes again at once. */
  reset: boolean;
}

/**
 * The `wg` argument vectors that take the interface from `current` to `desired`, and none
 * when they already agree (so running the plan twice changes nothing the second time).
 */
export function planWg(
  iface: string,
  desired: readonly DesiredPeer[],
  current: readonly WgPeerState[],
): string[][] {
  const commands: string[][] = [];
  const wanted = new Map(desired.map((peer) => [peer.publicKey, peer]));
  for (const peer of current) {
    if (!wanted.has(peer.publicKey)) commands.push(['set', iface, 'peer', peer.publicKey, 'remove']);
  }
  const present = new Map(current.map((peer) => [peer.publicKey, peer]));
  for (const peer of desired) {
    const now = present.get(peer.publicKey);
    if (now === undefined || peer.reset) {
      if (now !== undefined) commands.push(['set', iface, 'peer', peer.publicKey, 'remove']);
      commands.push(['set', iface, 'peer', peer.publicKey, ...fullArgs(peer)]);
      continue;
    }
    const change: string[] = [];
    if (!sameSet(now.allowedIps, peer.allowedIps)) change.push('allowed-ips', peer.allowedIps.join(','));
    if (now.keepalive !== peer.keepalive) change.push('persistent-keepalive', String(peer.keepalive));
    if (peer.applyEndpoint && peer.endpoint !== undefined && now.endpoint !== peer.endpoint)
      change.push('endpoint', peer.endpoint);
    if (change.length > 0) commands.push(['set', iface, 'peer', peer.publicKey, ...change]);
  }
  return commands;
}

function fullArgs(peer: DesiredPeer): string[] {
  return [
    'allowed-ips',
    peer.allowedIps.join(','),
    // Endpoint before keepalive: setting the keepalive sends the first packet (a handshake).
    ...(peer.endpoint === undefined ? [] : ['endpoint', peer.endpoint]),
    'persistent-keepalive',
    String(peer.keepalive),
  ];
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((item) => set.has(item));
}
