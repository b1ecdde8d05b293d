import type { NetworkInterfaceInfo } from 'node:os';
import { cidrContains, type Ipv4Cidr } from './cidr.ts';

/** Interfaces whose addresses are never a way in: k3s/CNI bridges, containers, tunnels. */
const SKIPPED_INTERFACES = /^(cni|flannel|docker|veth|kube|vxlan|cali|tunl|wg|kmesh)/;

/**
 * Candidate endpoints, best first: configured ones (`--vpn-endpoint`), then this node's
 * interface addresses, then the addresses peers observe (a NAT's public side), each with the
 * WireGuard listen port. Loopback only when `includeLoopback` (single-host tests).
 */
export function candidateEndpoints(input: {
  configured: readonly string[];
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>;
  observed: readonly string[];
  listenPort: number;
  overlay: Ipv4Cidr;
  ownIface: string;
  includeLoopback?: boolean;
}): string[] {
  const result: string[] = [...input.configured];
  const usable = (address: string, internal: boolean): boolean =>
    (!internal || input.includeLoopback === true) &&
    !address.startsWith('fe80:') &&
    !cidrContains(input.overlay, address);
  for (const [name, infos] of Object.entries(input.interfaces)) {
    if (name === input.ownIface || SKIPPED_INTERFACES.test(name)) continue;
    for (const info of infos ?? []) {
      if (usable(info.address, info.internal)) result.push(withPort(info.address, input.listenPort));
    }
  }
  for (const observed of input.observed) {
    const address = hostOf(observed);
    if (address !== undefined && usable(address, address === '127.0.0.1' || address === '::1'))
      result.push(withPort(address, input.listenPort));
  }
  return [...new Set(result)].slice(0, 16);
}

/** The IP of an observed address given as an IP or as a multiaddr (`/ip4/1.2.3.4/tcp/...`). */
export function hostOf(address: string): string | undefined {
  // A circuit address starts with the relay's IP, not ours.
  if (address.includes('/p2p-circuit')) return undefined;
  const match = /^\/ip[46]\/([^/]+)/.exec(address);
  if (match !== null) return match[1];
  return address.startsWith('/') || address.includes('/') ? undefined : address;
}

function withPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Orders a peer's endpoints for direct attempts: those in a subnet this node is on first
 * (a LAN path), the rest in the peer's order.
 */
export function orderForDial(endpoints: readonly string[], localSubnets: readonly Ipv4Cidr[]): string[] {
  const local = endpoints.filter((endpoint) => {
    const host = endpoint.slice(0, endpoint.lastIndexOf(':'));
    return localSubnets.some((subnet) => cidrContains(subnet, host));
  });
  return [...local, ...endpoints.filter((endpoint) => !local.includes(endpoint))];
}
