import { createHash } from 'node:crypto';
import { ExitCode, KairosError } from '../shared/errors.ts';
import { intToIpv4, isHostOf, type Ipv4Cidr } from './cidr.ts';

/** One node's claim on an overlay address, as published in its ledger record. */
export interface IpClaim {
  peerId: string;
  overlayIp: string;
  /** When the claim was first made (ms); kept across restarts, so an old claim outranks a new one. */
  since: number;
}

/** How many hashed choices a node tries before scanning the network in order. */
const HASHED_ATTEMPTS = 32;

/** The `attempt`-th deterministic choice of a peer: a hash of its id into the host range. */
export function candidateIp(network: Ipv4Cidr, peerId: string, attempt: number): string {
  const digest = createHash('sha256').update(`kairos-mesh/vpn-ip/${peerId}/${attempt}`).digest();
  const hosts = network.size - 2;
  return intToIpv4(network.base + 1 + (digest.readUInt32BE(0) % hosts));
}

/** Total order on claims of one address: the older claim wins, the smaller peer id breaks ties. */
export function claimOutranks(a: IpClaim, b: IpClaim): boolean {
  if (a.since !== b.since) return a.since < b.since;
  return a.peerId < b.peerId;
}

/**
 * Which claim holds each address: for every contested address the outranking claim. Every
 * node with the same records computes the same winners, so two nodes never keep one address.
 */
export function winningClaims(network: Ipv4Cidr, claims: readonly IpClaim[]): Map<string, IpClaim> {
  const byIp = new Map<string, IpClaim>();
  for (const claim of claims) {
    if (!isHostOf(network, claim.overlayIp)) continue;
    const holder = byIp.get(claim.overlayIp);
    if (holder === undefined || claimOutranks(claim, holder)) byIp.set(claim.overlayIp, claim);
  }
  return byIp;
}

/**
 * This node's address: its previous claim while no other claim outranks it (stable across
 * restarts), otherwise its first hashed choice that no other node claims, otherwise the first
 * free address in order.
 */
export function chooseOwnIp(input: {
  network: Ipv4Cidr;
  selfId: string;
  others: readonly IpClaim[];
  previous?: IpClaim | undefined;
  now: number;
}): IpClaim {
  const { network, selfId, previous, now } = input;
  const others = input.others.filter((claim) => claim.peerId !== selfId);
  if (previous !== undefined && isHostOf(network, previous.overlayIp)) {
    const mine = { ...previous, peerId: selfId };
    const beaten = others.some((claim) => claim.overlayIp === mine.overlayIp && claimOutranks(claim, mine));
    if (!beaten) return mine;
  }
  const taken = new Set(others.map((claim) => claim.overlayIp));
  for (let attempt = 0; attempt < HASHED_ATTEMPTS; attempt++) {
    const ip = candidateIp(network, selfId, attempt);
    if (!taken.has(ip)) return { peerId: selfId, overlayIp: ip, since: now };
  }
  for (let value = network.base + 1; value < network.base + network.size - 1; value++) {
    const ip = intToIpv4(value);
    if (!taken.has(ip)) return { peerId: selfId, overlayIp: ip, since: now };
  }
  throw new KairosError('VPN_CIDR_FULL', `every address of the overlay network is claimed`, {
    exitCode: ExitCode.unavailable,
  });
}
