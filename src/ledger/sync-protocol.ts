import type { Stream } from '@libp2p/interface';
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils';
import type { StoredEntry } from './store.ts';
import type { VersionVector, WantRange } from './vector.ts';
import { missingRanges } from './vector.ts';

/**
 * Anti-entropy over one stream (initiator = the side that pulls):
 *   I -> R  {t:"hello", digest, refresh?}   32 hex chars of the initiator's version vector;
 *                                           refresh: R first pulls from its own peers
 *   R -> I  {t:"same", refreshed?}          digests equal: done (the idle case: ~100 bytes)
 *        |  {t:"vector", vector, refreshed?}
 *                                           refreshed: the peers R pulled from since the hello
 *   I -> R  {t:"push", entries:[…]}?        what R lacks that I holds, when it is little (a
 *                                           joiner's own records): no pull back for it
 *   I -> R  {t:"want", ranges, vector}      what I lacks; I's vector lets R pull back if I is ahead
 *   I -> R  {t:"credit", n}                 flow control: R sends a frame only against credit
 *   R -> I  {t:"entries", entries:[…]}*     ≤ FRAME_BYTES each, in (author, seq) order
 *   R -> I  {t:"end", more}                 more = the per-request cap was hit: ask again
 * Every frame is length-prefixed JSON. Credits bound what sits unread in the initiator's buffer
 * (libp2p aborts a stream whose read buffer overflows) while keeping a few frames in flight.
 */
export const FRAME_BYTES = 256 * 1024;
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;
const INITIAL_CREDIT = 4;
const PAGE = 1000;
const MAX_RANGES = 100_000;
const MAX_REFRESHED = 10_000;
/** At most this many entries are pushed with a pull; a larger lead is pulled back by R. */
export const MAX_PUSHED_ENTRIES = 64;

export class SyncProtocolError extends Error {
  override name = 'SyncProtocolError';
}

export interface SyncServerSide {
  vector(): VersionVector;
  digest(): string;
  readRange(author: string, from: number, to: number, limit: number): Promise<StoredEntry[]>;
  /** Verifies and stores entries the initiator pushed; resolves when they are committed. */
  ingest(entries: unknown[]): Promise<void>;
  /** The initiator's vector, so the server can pull back what it lacks. */
  remoteVector(peerId: string, vector: VersionVector): void;
  /**
   * Asked for a refresh: pulls from this node's other peers first and resolves with those it
   * then holds everything of (held since the call).
   */
  refresh(peerId: string): Promise<string[]>;
  maxEntries: number;
}

export interface SyncClientSide {
  vector(): VersionVector;
  digest(): string;
  readRange(author: string, from: number, to: number, limit: number): Promise<StoredEntry[]>;
  /** Verifies and stores one frame's entries; resolves when they are committed. */
  ingest(entries: unknown[]): Promise<void>;
}

function open(stream: Stream): LengthPrefixedStream<Stream> {
  return lpStream(stream, { maxDataLength: MAX_FRAME_BYTES, maxBufferSize: 2 * MAX_FRAME_BYTES });
}

async function readMessage(
  lp: LengthPrefixedStream<Stream>,
  signal: AbortSignal,
): Promise<Record<string, unknown>> {
  const bytes = await lp.read({ signal });
  let message: unknown;
  try {
    message = JSON.parse(Buffer.from(bytes.subarray()).toString('utf8'));
  } catch {
    throw new SyncProtocolError('frame is not JSON');
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message))
    throw new SyncProtocolError('frame is not an object');
  return message as Record<string, unknown>;
}

function write(lp: LengthPrefixedStream<Stream>, text: string, signal: AbortSignal): Promise<void> {
  return lp.write(Buffer.from(text, 'utf8'), { signal });
}

/** Answers one sync request. Resolves with the number of entries sent. */
export async function serveSync(
  stream: Stream,
  peerId: string,
  side: SyncServerSide,
  signal: AbortSignal,
): Promise<number> {
  const lp = open(stream);
  const hello = await readMessage(lp, signal);
  if (hello['t'] !== 'hello' || typeof hello['digest'] !== 'string')
    throw new SyncProtocolError('expected hello');
  const refreshed = hello['refresh'] === true ? { refreshed: await side.refresh(peerId) } : {};
  if (hello['digest'] === side.digest()) {
    await write(lp, JSON.stringify({ t: 'same', ...refreshed }), signal);
    await stream.close({ signal });
    return 0;
  }
  await write(lp, JSON.stringify({ t: 'vector', vector: side.vector(), ...refreshed }), signal);
  let want = await readMessage(lp, signal);
  if (want['t'] === 'push') {
    if (!Array.isArray(want['entries']) || want['entries'].length > MAX_PUSHED_ENTRIES)
      throw new SyncProtocolError('bad push');
    await side.ingest(want['entries'] as unknown[]);
    want = await readMessage(lp, signal);
  }
  if (want['t'] !== 'want') throw new SyncProtocolError('expected want');
  const ranges = parseRanges(want['ranges']);
  const theirVector = parseVector(want['vector']);
  if (missingRanges(side.vector(), theirVector).length > 0) side.remoteVector(peerId, theirVector);

  let credit = 0;
  let sent = 0;
  let more = false;
  let frame: string[] = [];
  let frameBytes = 0;
  const flush = async (): Promise<void> => {
    while (credit === 0) {
      const message = await readMessage(lp, signal);
      if (message['t'] !== 'credit' || !isCount(message['n'])) throw new SyncProtocolError('expected credit');
      credit += Math.min(message['n'], 64);
    }
    await write(lp, `{"t":"entries","entries":[${frame.join(',')}]}`, signal);
    credit -= 1;
    frame = [];
    frameBytes = 0;
  };
  const mine = side.vector();
  outer: for (const range of ranges) {
    // Only feeds this node holds, up to its head: a request cannot make it scan for nothing.
    const to = Math.min(range.to, mine[range.author]?.seq ?? 0);
    let from = range.from;
    while (from <= to) {
      const remaining = side.maxEntries - sent;
      if (remaining <= 0) {
        more = true;
        break outer;
      }
      const page = await side.readRange(range.author, from, to, Math.min(PAGE, remaining));
      if (page.length === 0) break;
      for (const stored of page) {
        if (frameBytes + stored.encoded.length > FRAME_BYTES && frame.length > 0) await flush();
        frame.push(stored.encoded);
        frameBytes += stored.encoded.length + 1;
        sent += 1;
      }
      from = page[page.length - 1]!.seq + 1;
    }
  }
  if (frame.length > 0) await flush();
  await write(lp, JSON.stringify({ t: 'end', more }), signal);
  await stream.close({ signal });
  return sent;
}

export interface PullResult {
  /** Entries received (valid or not). */
  received: number;
  /** The server hit its per-request cap: pull again. */
  more: boolean;
  /** This node now holds every entry the peer held when it answered (its vector is covered). */
  covered: boolean;
  /** Asked to refresh: the peers the server pulled from before it answered (see SyncServerSide). */
  refreshed: string[];
}

/** Pulls what the peer has and this node lacks (`refresh`: after the peer pulled from its peers). */
export async function pullSync(
  stream: Stream,
  side: SyncClientSide,
  signal: AbortSignal,
  refresh = false,
): Promise<PullResult> {
  const lp = open(stream);
  await write(
    lp,
    JSON.stringify({ t: 'hello', digest: side.digest(), ...(refresh ? { refresh } : {}) }),
    signal,
  );
  const answer = await readMessage(lp, signal);
  const refreshed = refresh ? parsePeerIds(answer['refreshed']) : [];
  if (answer['t'] === 'same') {
    await stream.close({ signal });
    return { received: 0, more: false, covered: true, refreshed };
  }
  if (answer['t'] !== 'vector') throw new SyncProtocolError('expected vector');
  const mine = side.vector();
  const theirs = parseVector(answer['vector']);
  const ranges = missingRanges(mine, theirs);
  const push = await entriesToPush(side, missingRanges(theirs, mine));
  if (push.length > 0) await write(lp, `{"t":"push","entries":[${push.join(',')}]}`, signal);
  await write(lp, JSON.stringify({ t: 'want', ranges, vector: mine }), signal);
  await write(lp, JSON.stringify({ t: 'credit', n: INITIAL_CREDIT }), signal);
  let received = 0;
  for (;;) {
    const message = await readMessage(lp, signal);
    if (message['t'] === 'end') {
      await stream.close({ signal });
      const more = message['more'] === true;
      const covered = !more && missingRanges(side.vector(), theirs).length === 0;
      return { received, more, covered, refreshed };
    }
    if (message['t'] !== 'entries' || !Array.isArray(message['entries']))
      throw new SyncProtocolError('expected entries');
    const entries = message['entries'] as unknown[];
    received += entries.length;
    await side.ingest(entries);
    await write(lp, '{"t":"credit","n":1}', signal);
  }
}

/**
 * The encoded entries the peer lacks, if they are few enough to push (else none: the peer pulls
 * them back, paged, when it sees our vector).
 */
async function entriesToPush(side: SyncClientSide, theirWants: WantRange[]): Promise<string[]> {
  let count = 0;
  for (const range of theirWants) count += range.to - range.from + 1;
  if (count === 0 || count > MAX_PUSHED_ENTRIES) return [];
  const encoded: string[] = [];
  let bytes = 0;
  for (const range of theirWants)
    for (const stored of await side.readRange(range.author, range.from, range.to, MAX_PUSHED_ENTRIES)) {
      bytes += stored.encoded.length + 1;
      if (bytes > FRAME_BYTES) return encoded;
      encoded.push(stored.encoded);
    }
  return encoded;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

export function parseVector(input: unknown): VersionVector {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new SyncProtocolError('bad vector');
  const vector: VersionVector = {};
  for (const [author, head] of Object.entries(input as Record<string, unknown>)) {
    if (typeof head !== 'object' || head === null) throw new SyncProtocolError('bad vector head');
    const { seq, hash } = head as Record<string, unknown>;
    if (!isCount(seq) || typeof hash !== 'string' || author.length > 128)
      throw new SyncProtocolError('bad vector head');
    vector[author] = { seq, hash };
  }
  return vector;
}

function parsePeerIds(input: unknown): string[] {
  if (input === undefined) return [];
  if (
    !Array.isArray(input) ||
    input.length > MAX_REFRESHED ||
    !input.every((id): id is string => typeof id === 'string' && id.length <= 128)
  )
    throw new SyncProtocolError('bad refreshed peers');
  return input;
}

function parseRanges(input: unknown): WantRange[] {
  if (!Array.isArray(input) || input.length > MAX_RANGES) throw new SyncProtocolError('bad ranges');
  return input.map((item: unknown) => {
    const { author, from, to } = (item ?? {}) as Record<string, unknown>;
    if (
      typeof author !== 'string' ||
      author.length > 128 ||
      !isCount(from) ||
      !isCount(to) ||
      from < 1 ||
      to < from
    )
      throw new SyncProtocolError('bad range');
    return { author, from, to };
  });
}
