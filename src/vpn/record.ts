import { z } from 'zod';
import { isWgKey } from './keys.ts';
import { ipv4ToInt } from './cidr.ts';

/** The ledger bucket; the key of each record is its owner's peer id. */
export const VPN_BUCKET = 'vpn';

/** What a node publishes about its end of the overlay at `vpn/<peerId>`. */
export interface VpnRecord {
  publicKey: string;
  overlayIp: string;
  /** When the overlay address was first claimed (ms); orders conflicting claims. */
  since: number;
  endpoints: string[];
  listenPort: number;
  name?: string | undefined;
}

const endpoint = z
  .string()
  .max(64)
  .regex(/^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/);

const recordSchema = z.object({
  publicKey: z.string().refine(isWgKey),
  overlayIp: z.string().refine((ip) => ipv4ToInt(ip) !== undefined),
  since: z.number().int().nonnegative(),
  endpoints: z.array(endpoint).max(16),
  listenPort: z.number().int().min(1).max(65535),
  name: z.string().max(64).optional(),
});

/** A record from the ledger, or undefined when it is malformed (remote input is never trusted). */
export function parseVpnRecord(value: unknown): VpnRecord | undefined {
  const result = recordSchema.safeParse(value);
  return result.success ? result.data : undefined;
}

export function sameRecord(a: VpnRecord | undefined, b: VpnRecord): boolean {
  return a !== undefined && JSON.stringify(normalise(a)) === JSON.stringify(normalise(b));
}

function normalise(record: VpnRecord): unknown {
  return [
    record.publicKey,
    record.overlayIp,
    record.since,
    record.endpoints,
    record.listenPort,
    record.name ?? null,
  ];
}
