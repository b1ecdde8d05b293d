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
  for (const address of input.observed) {
    if (usable(address, address === '127.0.0.1' || address === '::1'))
      result.push(withPort(address, input.listenPort));
  }
  return [...new Set(result)].slice(0, 16);
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
