import { createHash } from 'node:crypto';
import { canonicalJson, CanonicalError, type JsonValue } from './canonical.ts';
import { checkNames, MAX_VALUE_BYTES } from './rules.ts';

export type Op = 'put' | 'del';

/** One immutable, signed, content-addressed record in its author's feed. */
export interface Entry {
  /** libp2p peer id (Ed25519) of the writer; its public key verifies `sig`. */
  author: string;
  /** Position in the author's feed, 1, 2, 3, … without holes. */
  seq: number;
  /** Hash of the author's entry seq-1, or null for seq 1. */
  prev: string | null;
  lamport: number;
  /** Writer's wall clock, ms since the epoch: informative only, never used to order. */
  time: number;
  op: Op;
  bucket: string;
  key: string;
  /** JSON value of a put; null for a delete. */
  value: JsonValue | null;
  /** base64url Ed25519 signature over `signingBytes(entry)`. */
  sig: string;
}

export type UnsignedEntry = Omit<Entry, 'sig'>;

/** Reasons a received entry is dropped; `stats().rejected` counts them. */
export type RejectReason =
  'malformed' | 'oversize' | 'rule' | 'author' | 'signature' | 'chain' | 'lamport' | 'fork';

export const SIGNING_DOMAIN = 'kairos-mesh/ledger/entry/v1\n';
/** Upper bound of one encoded entry: the value limit plus room for the other fields. */
export const MAX_ENTRY_BYTES = MAX_VALUE_BYTES + 2048;

const FIELDS = ['author', 'bucket', 'key', 'lamport', 'op', 'prev', 'seq', 'sig', 'time', 'value'];
const HASH_PATTERN = /^[0-9a-f]{64}$/;
const SIG_PATTERN = /^[A-Za-z0-9_-]{86}$/;
const AUTHOR_PATTERN = /^[1-9A-HJ-NP-Za-km-z]{40,60}$/;

/**
 * Canonical JSON of an entry, written field by field (keys in sorted order: author, bucket, key,
 * lamport, op, prev, seq, sig, time, value) — the same text canonicalJson would give, with the
 * value encoded only once. Without `sig` it is the signed body.
 */
function entryText(entry: UnsignedEntry, valueText: string, sig?: string): string {
  const prev = entry.prev === null ? 'null' : JSON.stringify(entry.prev);
  const signature = sig === undefined ? '' : `"sig":${JSON.stringify(sig)},`;
  return (
    `{"author":${JSON.stringify(entry.author)},"bucket":${JSON.stringify(entry.bucket)},` +
    `"key":${JSON.stringify(entry.key)},"lamport":${entry.lamport},"op":${JSON.stringify(entry.op)},` +
    `"prev":${prev},"seq":${entry.seq},${signature}"time":${entry.time},"value":${valueText}}`
  );
}

/** The bytes the author signs: a domain label, then the canonical entry without `sig`. */
export function signingBytes(entry: UnsignedEntry, valueText = canonicalJson(entry.value)): Buffer {
  return Buffer.from(SIGNING_DOMAIN + entryText(entry, valueText), 'utf8');
}

/** The stored and hashed form: canonical JSON of the whole entry, signature included. */
export function encodeEntry(entry: Entry, valueText = canonicalJson(entry.value)): string {
  return entryText(entry, valueText, entry.sig);
}

export function hashEncoded(encoded: string): string {
  return createHash('sha256').update(encoded, 'utf8').digest('hex');
}

/** Content address of an entry: sha256 (hex) of its canonical encoding. */
export function entryHash(entry: Entry): string {
  return hashEncoded(encodeEntry(entry));
}

export type ParseResult =
  { ok: true; entry: Entry; encoded: string } | { ok: false; reason: RejectReason; detail: string };

/**
 * Checks that untrusted input has exactly the shape of an entry, within every size limit, with
 * valid names. Signature, chain and write rules are checked elsewhere.
 */
export function parseEntry(input: unknown): ParseResult {
  const bad = (detail: string, reason: RejectReason = 'malformed'): ParseResult => ({
    ok: false,
    reason,
    detail,
  });
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return bad('not an object');
  const record = input as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length !== FIELDS.length || !FIELDS.every((field) => field in record)) return bad('wrong fields');
  const { author, seq, prev, lamport, time, op, bucket, key, value, sig } = record;
  if (typeof author !== 'string' || !AUTHOR_PATTERN.test(author)) return bad('bad author', 'author');
  if (!isCounter(seq) || seq < 1) return bad('bad seq');
  if (seq === 1 ? prev !== null : typeof prev !== 'string' || !HASH_PATTERN.test(prev))
    return bad('bad prev');
  if (!isCounter(lamport) || lamport < 1) return bad('bad lamport');
  if (!isCounter(time)) return bad('bad time');
  if (op !== 'put' && op !== 'del') return bad('bad op');
  if (typeof bucket !== 'string' || typeof key !== 'string') return bad('bad bucket or key');
  const names = checkNames(bucket, key);
  if (names !== undefined) return bad(names);
  if (op === 'del' && value !== null) return bad('a delete carries no value');
  if (typeof sig !== 'string' || !SIG_PATTERN.test(sig)) return bad('bad signature encoding');
  let valueText: string;
  try {
    valueText = canonicalJson(value);
  } catch (error) {
    return bad(error instanceof CanonicalError ? error.message : 'not JSON');
  }
  if (op === 'put' && Buffer.byteLength(valueText, 'utf8') > MAX_VALUE_BYTES)
    return bad('value too large', 'oversize');
  const encoded = encodeEntry(record as unknown as Entry, valueText);
  if (Buffer.byteLength(encoded, 'utf8') > MAX_ENTRY_BYTES) return bad('entry too large', 'oversize');
  // Hand out values with canonical key order, so every node shows byte-identical state.
  const reorder = typeof value === 'object' && value !== null && JSON.stringify(value) !== valueText;
  const entry = (reorder ? JSON.parse(encoded) : record) as Entry;
  return { ok: true, entry, encoded };
}

function isCounter(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
