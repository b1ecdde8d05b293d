import type { StoredEntry } from './store.ts';
import { parseVector, SyncProtocolError } from './sync-protocol.ts';
import { missingRanges, type VersionVector } from './vector.ts';

/**
 * A pull that fits one presence datagram, for a member reached that way (the mesh carries it,
 * see LedgerTransport.queryByDatagram): we send our vector and our own fresh entries (a joiner's
 * records, which the peer most likely lacks: no round trip to find out), the peer stores those
 * and answers with its vector and the entries we lack, as many as fit. A cut answer (`more`)
 * leaves the rest to the stream pull.
 *
 *   request  {"v": vector, "own": [entry, ...]}
 *   answer   {"v": vector, "more": bool, "e": [entry, ...]}
 */
export const DATAGRAM_PULL_TIMEOUT_MS = 1_000;
/** Entry bytes an answer carries at most, so it stays one datagram once sealed and encoded. */
const ANSWER_ENTRY_BYTES = 48 * 1024;
const MAX_ENTRIES = 64;

export interface DatagramPullServer {
  vector(): VersionVector;
  readRange(author: string, from: number, to: number, limit: number): Promise<StoredEntry[]>;
}

export interface DatagramPullAnswer {
  vector: VersionVector;
  entries: unknown[];
  more: boolean;
}

/** Own entries a request carries at most (bytes of their JSON). */
const OWN_ENTRY_BYTES = 16 * 1024;

export function pullRequest(vector: VersionVector, own: StoredEntry[]): Uint8Array {
  const pushed: string[] = [];
  let bytes = 0;
  for (const stored of own) {
    if (bytes + stored.encoded.length > OWN_ENTRY_BYTES) break;
    pushed.push(stored.encoded);
    bytes += stored.encoded.length + 1;
  }
  return Buffer.from(`{"v":${JSON.stringify(vector)},"own":[${pushed.join(',')}]}`, 'utf8');
}

/** What a request carries; throws SyncProtocolError on anything malformed. */
export function parseRequest(bytes: Uint8Array): { theirs: VersionVector; own: unknown[] } {
  const request = parseObject(bytes);
  const own = request['own'] ?? [];
  if (!Array.isArray(own) || own.length > MAX_ENTRIES) throw new SyncProtocolError('bad own entries');
  return { theirs: parseVector(request['v']), own: own as unknown[] };
}

/** The answer to a request: the entries the asker lacks, as many as fit. */
export async function answerPull(theirs: VersionVector, server: DatagramPullServer): Promise<Uint8Array> {
  const mine = server.vector();
  const entries: string[] = [];
  let bytes = 0;
  let more = false;
  outer: for (const range of missingRanges(theirs, mine)) {
    const wanted = range.to - range.from + 1;
    const page = await server.readRange(range.author, range.from, range.to, Math.min(wanted, MAX_ENTRIES));
    for (const stored of page) {
      if (bytes + stored.encoded.length > ANSWER_ENTRY_BYTES || entries.length >= MAX_ENTRIES) {
        more = true;
        break outer;
      }
      entries.push(stored.encoded);
      bytes += stored.encoded.length + 1;
    }
    if (page.length < wanted) {
      more = true;
      break;
    }
  }
  const answer = `{"v":${JSON.stringify(mine)},"more":${more},"e":[${entries.join(',')}]}`;
  return Buffer.from(answer, 'utf8');
}

/** Throws SyncProtocolError on anything malformed. */
export function parseAnswer(bytes: Uint8Array): DatagramPullAnswer {
  const answer = parseObject(bytes);
  if (typeof answer['more'] !== 'boolean' || !Array.isArray(answer['e']))
    throw new SyncProtocolError('bad answer');
  return { vector: parseVector(answer['v']), entries: answer['e'] as unknown[], more: answer['more'] };
}

function parseObject(bytes: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new SyncProtocolError('not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new SyncProtocolError('not an object');
  return value as Record<string, unknown>;
}
