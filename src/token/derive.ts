import { createHmac, hkdfSync } from 'node:crypto';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { sha256 } from 'multiformats/hashes/sha2';
import type { NetworkToken } from './codec.ts';

/** Every key the mesh uses, each from its own HKDF label so no two uses share key material. */
export interface NetworkKeys {
  networkId: string;
  admissionKey: Uint8Array;
  rendezvousKey: Uint8Array;
  /** Seals presence datagrams (ChaCha20-Poly1305): only token holders read or forge them. */
  datagramKey: Uint8Array;
  /** Gossipsub topic prefix; not secret on the wire, but not guessable without the token. */
  topicPrefix: string;
  /** 32-byte key for a libp2p private network (strict mode). */
  pnetKey: Uint8Array;
  /** Short non-secret id that tells two tokens apart in `token inspect` and logs. */
  fingerprint: string;
  epochSeconds: number;
}

function derive(token: NetworkToken, networkId: string, label: string, length = 32): Uint8Array {
  const salt = Buffer.from(`kairos-mesh/v${token.version}/${networkId}`, 'utf8');
  return new Uint8Array(hkdfSync('sha256', token.secret, salt, `kairos-mesh ${label}`, length));
}

/**
 * `networkId` overrides the token's own id: Kairos lets several clusters share one token
 * and tells them apart by `p2p.network_id`.
 */
export function deriveKeys(token: NetworkToken, networkId: string = token.networkId): NetworkKeys {
  return {
    networkId,
    admissionKey: derive(token, networkId, 'admission'),
    rendezvousKey: derive(token, networkId, 'rendezvous'),
    datagramKey: derive(token, networkId, 'presence datagram'),
    topicPrefix: `/kairos-mesh/${Buffer.from(derive(token, networkId, 'topic', 12)).toString('hex')}`,
    pnetKey: derive(token, networkId, 'pnet'),
    fingerprint: Buffer.from(derive(token, networkId, 'fingerprint', 6)).toString('hex'),
    epochSeconds: token.epochSeconds,
  };
}

export function epochAt(nowMs: number, epochSeconds: number): number {
  return Math.floor(nowMs / 1000 / epochSeconds);
}

/** The epochs a node advertises and searches: previous, current and next, to absorb clock skew. */
export function activeEpochs(nowMs: number, epochSeconds: number): number[] {
  const current = epochAt(nowMs, epochSeconds);
  return [current - 1, current, current + 1];
}

/** Rendezvous CID for an epoch: CID(sha256(HMAC(rendezvousKey, epoch))). */
export async function rendezvousCid(rendezvousKey: Uint8Array, epoch: number): Promise<CID> {
  const epochBytes = Buffer.alloc(8);
  epochBytes.writeBigInt64BE(BigInt(epoch));
  const mac = createHmac('sha256', rendezvousKey).update(epochBytes).digest();
  return CID.createV1(raw.code, await sha256.digest(mac));
}
