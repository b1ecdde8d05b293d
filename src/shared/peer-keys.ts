import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';

// DER prefixes that wrap a raw Ed25519 seed / public key for node:crypto (RFC 8410).
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/**
 * Ed25519 signatures by libp2p peer id (ledger entries, presence datagrams).
 *
 * Signs with the node's libp2p key through node:crypto (OpenSSL), about three times faster than
 * @libp2p/crypto here; the signature bytes are identical (Ed25519 is deterministic).
 */
export class PeerSigner {
  readonly peerId: string;
  private readonly key: KeyObject;

  constructor(privateKey: PrivateKey) {
    if (privateKey.type !== 'Ed25519') throw new Error('signing needs an Ed25519 node key');
    this.peerId = peerIdFromPrivateKey(privateKey).toString();
    const seed = privateKey.raw.subarray(0, 32);
    this.key = createPrivateKey({
      key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
      format: 'der',
      type: 'pkcs8',
    });
  }

  sign(bytes: Uint8Array): string {
    return this.signRaw(bytes).toString('base64url');
  }

  /** The 64 signature bytes. */
  signRaw(bytes: Uint8Array): Buffer {
    return sign(null, bytes, this.key);
  }
}

const MAX_CACHED_KEYS = 10_000;

/** Verifies signatures by author peer id, caching the decoded public keys. */
export class SignatureVerifier {
  private readonly keys = new Map<string, KeyObject | null>();

  /** The author's public key, or null when the id is not an Ed25519 peer id. */
  keyOf(author: string): KeyObject | null {
    let key = this.keys.get(author);
    if (key !== undefined) return key;
    key = decodeAuthorKey(author);
    if (this.keys.size >= MAX_CACHED_KEYS) this.keys.clear();
    this.keys.set(author, key);
    return key;
  }

  knows(author: string): boolean {
    return this.keyOf(author) !== null;
  }

  verify(author: string, bytes: Uint8Array, signature: string): boolean {
    return this.verifyRaw(author, bytes, Buffer.from(signature, 'base64url'));
  }

  verifyRaw(author: string, bytes: Uint8Array, signature: Uint8Array): boolean {
    const key = this.keyOf(author);
    if (key === null || signature.length !== 64) return false;
    return verify(null, bytes, key, signature);
  }
}

function decodeAuthorKey(author: string): KeyObject | null {
  try {
    const publicKey = peerIdFromString(author).publicKey;
    if (publicKey?.type !== 'Ed25519') return null;
    return createPublicKey({
      key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey.raw]),
      format: 'der',
      type: 'spki',
    });
  } catch {
    return null;
  }
}
