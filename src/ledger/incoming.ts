import { hashEncoded, parseEntry, type RejectReason } from './entry.ts';
import { checkFeed, type Candidate, type FeedHead, type SignatureCheck } from './feed-check.ts';
import { beats, recordOf, stateKey, type StateRecord } from './merge.ts';
import { checkWrite } from './rules.ts';

/** What happened to received entries, by outcome. */
export interface IncomingCounters {
  rejected: Record<RejectReason, number>;
  duplicates: number;
  deferred: number;
}

export interface AuthorKeys extends SignatureCheck {
  /** Whether `author` is an Ed25519 peer id whose key can verify. */
  knows(author: string): boolean;
}

export function newRejectCounts(): Record<RejectReason, number> {
  return { malformed: 0, oversize: 0, rule: 0, author: 0, signature: 0, chain: 0, lamport: 0, fork: 0 };
}

/**
 * Step 1 for untrusted input (runs outside the writer lock; `heads` only grow, so a stale view is safe): shape, size,
 * write rules and author key. Returns the survivors grouped by author.
 */
export function parseIncoming(
  raw: unknown[],
  keys: AuthorKeys,
  counters: IncomingCounters,
  heads?: ReadonlyMap<string, FeedHead>,
): Map<string, Candidate[]> {
  const byAuthor = new Map<string, Candidate[]>();
  for (const input of raw) {
    if (heads !== undefined && isOlderThanHead(input, heads)) {
      // Gossip delivers most entries several times: skip the canonical encoding of old ones.
      counters.duplicates += 1;
      continue;
    }
    const parsed = parseEntry(input);
    if (!parsed.ok) {
      counters.rejected[parsed.reason] += 1;
      continue;
    }
    const { entry, encoded } = parsed;
    if (checkWrite(entry.author, entry.bucket, entry.key) !== undefined) {
      counters.rejected.rule += 1;
      continue;
    }
    if (!keys.knows(entry.author)) {
      counters.rejected.author += 1;
      continue;
    }
    const list = byAuthor.get(entry.author) ?? [];
    list.push({ entry, encoded, hash: hashEncoded(encoded) });
    byAuthor.set(entry.author, list);
  }
  return byAuthor;
}

function isOlderThanHead(input: unknown, heads: ReadonlyMap<string, FeedHead>): boolean {
  if (typeof input !== 'object' || input === null) return false;
  const { author, seq } = input as { author?: unknown; seq?: unknown };
  if (typeof author !== 'string' || typeof seq !== 'number') return false;
  const head = heads.get(author);
  return head !== undefined && seq < head.seq;
}

/**
 * Step 2, against the current heads: drops what is already held (counting forks: same seq,
 * other hash), then lets checkFeed decide signature, chain, Lamport and holes per author.
 */
export function selectAcceptable(
  byAuthor: Map<string, Candidate[]>,
  heads: ReadonlyMap<string, FeedHead>,
  allowHoles: boolean,
  keys: SignatureCheck,
  counters: IncomingCounters,
): { accepted: Candidate[]; waiting: Set<string> } {
  const accepted: Candidate[] = [];
  const waiting = new Set<string>();
  for (const [author, list] of byAuthor) {
    const head = heads.get(author);
    list.sort((a, b) => a.entry.seq - b.entry.seq);
    const fresh: Candidate[] = [];
    for (const candidate of list) {
      const { seq } = candidate.entry;
      const last = fresh[fresh.length - 1];
      if (seq <= (head?.seq ?? 0) || last?.entry.seq === seq) {
        const known = seq === head?.seq ? head.hash : last?.entry.seq === seq ? last.hash : undefined;
        if (known !== undefined && known !== candidate.hash) counters.rejected.fork += 1;
        else counters.duplicates += 1;
        continue;
      }
      fresh.push(candidate);
    }
    if (fresh.length === 0) continue;
    const result = checkFeed(head, fresh, allowHoles, keys);
    accepted.push(...result.accepted);
    for (const { reason } of result.rejected) counters.rejected[reason] += 1;
    if (result.deferred.length > 0) {
      counters.deferred += result.deferred.length;
      waiting.add(author);
    }
  }
  return { accepted, waiting };
}

/** Step 3: the state records and heads that accepted entries change (nothing is mutated). */
export function planMerge(
  candidates: Candidate[],
  state: ReadonlyMap<string, StateRecord>,
  heads: ReadonlyMap<string, FeedHead>,
  lamport: number,
): { state: Map<string, StateRecord>; heads: Map<string, FeedHead>; lamport: number } {
  const changedState = new Map<string, StateRecord>();
  const changedHeads = new Map<string, FeedHead>();
  for (const { entry, hash } of candidates) {
    const id = stateKey(entry.bucket, entry.key);
    const current = changedState.get(id) ?? state.get(id);
    if (current === undefined || beats(entry, current)) changedState.set(id, recordOf(entry, hash));
    const head = changedHeads.get(entry.author) ?? heads.get(entry.author);
    if (head === undefined || entry.seq > head.seq)
      changedHeads.set(entry.author, { seq: entry.seq, hash, lamport: entry.lamport });
    lamport = Math.max(lamport, entry.lamport);
  }
  return { state: changedState, heads: changedHeads, lamport };
}
