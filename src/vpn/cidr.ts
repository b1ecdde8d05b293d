import { ExitCode, KairosError } from '../shared/errors.ts';

/** An IPv4 network as integers: `base` is the network address, `size` the number of addresses. */
export interface Ipv4Cidr {
  base: number;
  prefix: number;
  size: number;
}

export function ipv4ToInt(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

export function intToIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

export function parseCidr(cidr: string): Ipv4Cidr {
  const [ip, prefixText] = cidr.split('/');
  const address = ip === undefined ? undefined : ipv4ToInt(ip);
  const prefix = Number(prefixText);
  if (address === undefined || !Number.isInteger(prefix) || prefix < 8 || prefix > 30) {
    throw new KairosError('VPN_BAD_CIDR', `overlay CIDR ${cidr}: expected an IPv4 network from /8 to /30`, {
      exitCode: ExitCode.config,
    });
  }
  const size = 2 ** (32 - prefix);
  return { base: address - (address % size), prefix, size };
}

/** True when `ip` is a usable host address of the network (not its network or broadcast address). */
export function isHostOf(network: Ipv4Cidr, ip: string): boolean {
  const value = ipv4ToInt(ip);
  return value !== undefined && value > network.base && value < network.base + network.size - 1;
}

export function cidrContains(network: Ipv4Cidr, ip: string): boolean {
  const value = ipv4ToInt(ip);
  return value !== undefined && value >= network.base && value < network.base + network.size;
}
