import { canonicalJson, type JsonValue } from './canonical.ts';
import { encodeEntry, hashEncoded, signingBytes, type Entry, type Op, type UnsignedEntry } from './entry.ts';
import type { Candidate, FeedHead } from './feed-check.ts';

export interface Signer {
  readonly peerId: string;
  sign(bytes: Uint8Array): string;
}

/** Signs the next entry of `signer`'s feed after `head` (checks of names and rules come first). */
export function buildEntry(
  signer: Signer,
  head: FeedHead | undefined,
  fields: { lamport: number; time: number; op: Op; bucket: string; key: string; value: JsonValue | null },
): Candidate {
  const valueText = fields.op === 'del' ? 'null' : canonicalJson(fields.value);
  const unsigned: UnsignedEntry = {
    author: signer.peerId,
    seq: (head?.seq ?? 0) + 1,
    prev: head?.hash ?? null,
    lamport: fields.lamport,
    time: fields.time,
    op: fields.op,
    bucket: fields.bucket,
    key: fields.key,
    // Values keep canonical key order, as every other node will see them.
    value: fields.op === 'del' ? null : (JSON.parse(valueText) as JsonValue),
  };
  const entry: Entry = { ...unsigned, sig: signer.sign(signingBytes(unsigned, valueText)) };
  const encoded = encodeEntry(entry, valueText);
  return { entry, encoded, hash: hashEncoded(encoded) };
}
