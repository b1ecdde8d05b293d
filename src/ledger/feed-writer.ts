import { generateKeyPair } from '@libp2p/crypto/keys';
import type { JsonValue } from './canonical.ts';
import { buildEntry } from './entry-builder.ts';
import type { Op } from './entry.ts';
import type { Candidate, FeedHead } from './feed-check.ts';
import { PeerSigner } from '../shared/peer-keys.ts';

/** A writer that keeps its own head and Lamport clock: builds valid feeds for tests and simulations. */
export class FeedWriter {
  readonly signer: PeerSigner;
  head: FeedHead | undefined;
  lamport = 0;

  constructor(signer: PeerSigner) {
    this.signer = signer;
  }

  static async create(): Promise<FeedWriter> {
    return new FeedWriter(new PeerSigner(await generateKeyPair('Ed25519')));
  }

  get peerId(): string {
    return this.signer.peerId;
  }

  /** Moves this writer's clock past one it has seen (a received entry's Lamport clock). */
  observe(lamport: number): void {
    this.lamport = Math.max(this.lamport, lamport);
  }

  write(op: Op, bucket: string, key: string, value: JsonValue | null = null, time = 0): Candidate {
    this.lamport += 1;
    const candidate = buildEntry(this.signer, this.head, {
      lamport: this.lamport,
      time,
      op,
      bucket,
      key,
      value,
    });
    this.head = { seq: candidate.entry.seq, hash: candidate.hash, lamport: this.lamport };
    return candidate;
  }
}
