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
        for (const candidate of run) result.rejected.push({ candidate, reason: 'chain' });
        continue;
      }
    } else if (!allowHoles) {
      result.deferred.push(...run, ...candidates.slice(index));
      break;
    }

    const valid = lamportPrefix(tip, run, result);
    if (valid.length === 0) continue;
    const last = valid[valid.length - 1]!;
    if (signatures.verify(last.entry.author, signingBytes(last.entry), last.entry.sig)) {
      result.accepted.push(...valid);
      tip = { seq: last.entry.seq, hash: last.hash, lamport: last.entry.lamport };
      continue;
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
    result.rejected.push({ candidate: valid[position]!, reason: 'signature' });
    for (const candidate of valid.slice(position + 1)) result.rejected.push({ candidate, reason: 'chain' });
  }
  return result;
}

function linked(before: Candidate, after: Candidate): boolean {
  return after.entry.seq === before.entry.seq + 1 && after.entry.prev === before.hash;
}

/** An author's Lamport clock only grows; the run is cut at the first entry that breaks that. */
function lamportPrefix(tip: FeedHead | undefined, run: Candidate[], result: FeedCheckResult): Candidate[] {
  let floor = tip?.lamport ?? 0;
  for (let position = 0; position < run.length; position += 1) {
    const candidate = run[position]!;
    if (candidate.entry.lamport <= floor) {
      result.rejected.push({ candidate, reason: 'lamport' });
      for (const rest of run.slice(position + 1)) result.rejected.push({ candidate: rest, reason: 'chain' });
      return run.slice(0, position);
    }
    floor = candidate.entry.lamport;
  }
  return run;
}
