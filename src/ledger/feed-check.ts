import { signingBytes, type Entry, type RejectReason } from './entry.ts';

/** An entry that passed the shape and rule checks, with its canonical encoding and hash. */
export interface Candidate {
  entry: Entry;
  encoded: string;
  hash: string;
}

/** The last entry this node holds from an author. */
export interface FeedHead {
  seq: number;
  hash: string;
  lamport: number;
}

export interface SignatureCheck {
  verify(author: string, bytes: Uint8Array, signature: string): boolean;
}

export interface FeedCheckResult {
  accepted: Candidate[];
  rejected: { candidate: Candidate; reason: RejectReason }[];
  /** Entries that start after a hole in the feed (not rejected: they wait for a pull). */
  deferred: Candidate[];
}

/**
 * Decides which of one author's new entries (seq above `head`, sorted, unique) may be stored.
 *
 * A run of consecutive entries linked by `prev` is authenticated by the signature of its LAST
 * entry: that signature covers its `prev`, the hash of the entry before, and so on back, so one
 * Ed25519 verification (~0.1 ms) vouches for the whole run and hashing does the rest. Only when
 * that signature fails are the run's entries checked one by one, keeping the valid prefix.
 *
 * A run that does not start right after `head` follows a hole: from gossip it is deferred (the
 * caller pulls the missing range); from a sync answer (`allowHoles`) it is accepted, since the
 * serving peer may have compacted superseded entries away (see compaction.ts for the limits).
 */
export function checkFeed(
  head: FeedHead | undefined,
  candidates: Candidate[],
  allowHoles: boolean,
  signatures: SignatureCheck,
): FeedCheckResult {
  const result: FeedCheckResult = { accepted: [], rejected: [], deferred: [] };
  let tip = head;
  let index = 0;
  while (index < candidates.length) {
    const start = candidates[index]!;
    let end = index + 1;
    while (end < candidates.length && linked(candidates[end - 1]!, candidates[end]!)) end += 1;
    const run = candidates.slice(index, end);
    index = end;

    const expected = (tip?.seq ?? 0) + 1;
    if (start.entry.seq === expected) {
      if (start.entry.prev !== (tip?.hash ?? null)) {
        rejectRest(result, candidates, index - run.length, 'chain');
        break;
      }
    } else if (!allowHoles) {
      result.deferred.push(...run, ...candidates.slice(index));
      break;
    }

    const valid = lamportPrefix(tip, run);
    const last = valid[valid.length - 1];
    if (
      last !== undefined &&
      signatures.verify(last.entry.author, signingBytes(last.entry), last.entry.sig)
    ) {
      result.accepted.push(...valid);
      tip = { seq: last.entry.seq, hash: last.hash, lamport: last.entry.lamport };
      if (valid.length === run.length) continue;
      rejectRest(result, candidates, index - run.length + valid.length, 'lamport');
      break;
    }
    // The run's head signature is bad: keep the prefix whose own signatures hold.
    let position = 0;
    for (; position < valid.length; position += 1) {
      const candidate = valid[position]!;
      if (!signatures.verify(candidate.entry.author, signingBytes(candidate.entry), candidate.entry.sig))
        break;
      result.accepted.push(candidate);
      tip = { seq: candidate.entry.seq, hash: candidate.hash, lamport: candidate.entry.lamport };
    }
    rejectRest(
      result,
      candidates,
      index - run.length + position,
      position < valid.length ? 'signature' : 'lamport',
    );
    break;
  }
  return result;
}

/**
 * Rejects candidates[from] for `reason` and everything after it as 'chain': a later entry of the
 * feed must not be stored past a rejected one, or a forger could punch a hole in the feed by
 * spoiling one entry. Honest peers deliver the real entries later.
 */
function rejectRest(
  result: FeedCheckResult,
  candidates: Candidate[],
  from: number,
  reason: RejectReason,
): void {
  result.rejected.push({ candidate: candidates[from]!, reason });
  for (const candidate of candidates.slice(from + 1)) result.rejected.push({ candidate, reason: 'chain' });
}

function linked(before: Candidate, after: Candidate): boolean {
  return after.entry.seq === before.entry.seq + 1 && after.entry.prev === before.hash;
}

/** An author's Lamport clock only grows: the longest prefix of the run that keeps it so. */
function lamportPrefix(tip: FeedHead | undefined, run: Candidate[]): Candidate[] {
  let floor = tip?.lamport ?? 0;
  for (let position = 0; position < run.length; position += 1) {
    const lamport = run[position]!.entry.lamport;
    if (lamport <= floor) return run.slice(0, position);
    floor = lamport;
  }
  return run;
}
