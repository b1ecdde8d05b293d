import type { Candidate, FeedHead } from './feed-check.ts';
import {
  newRejectCounts,
  parseIncoming,
  planMerge,
  selectAcceptable,
  type AuthorKeys,
  type IncomingCounters,
} from './incoming.ts';
import { liveItems, type StateItem, type StateRecord } from './merge.ts';
import { missingRanges, vectorDigest, vectorOf, type VersionVector } from './vector.ts';

/**
 * An in-memory ledger replica running the same checks and merge as the LevelDB-backed Ledger
 * (parseIncoming -> selectAcceptable -> planMerge). Used by property tests and by the 1,000-node
 * simulation, where disks and libp2p would only slow things down.
 */
export class Replica {
  readonly counters: IncomingCounters = { rejected: newRejectCounts(), duplicates: 0, deferred: 0 };
  private readonly keys: AuthorKeys;
  private readonly state = new Map<string, StateRecord>();
  private readonly heads = new Map<string, FeedHead>();
  private readonly feeds = new Map<string, Map<number, { encoded: string; hash: string }>>();
  private lamport = 0;
  private cached: { vector: VersionVector; digest: string } | undefined;

  constructor(keys: AuthorKeys) {
    this.keys = keys;
  }

  /** Verifies and applies entries; returns the authors left waiting behind a hole. */
  receive(raw: unknown[], allowHoles: boolean): { accepted: Candidate[]; waiting: Set<string> } {
    const byAuthor = parseIncoming(raw, this.keys, this.counters, this.heads);
    const result = selectAcceptable(byAuthor, this.heads, allowHoles, this.keys, this.counters);
    this.apply(result.accepted);
    return result;
  }

  /** Stores entries this replica produced itself (already signed and chained). */
  apply(candidates: Candidate[]): void {
    if (candidates.length === 0) return;
    const plan = planMerge(candidates, this.state, this.heads, this.lamport);
    for (const { entry, encoded, hash } of candidates) {
      const feed = this.feeds.get(entry.author) ?? new Map<number, { encoded: string; hash: string }>();
      feed.set(entry.seq, { encoded, hash });
      this.feeds.set(entry.author, feed);
    }
    for (const [id, record] of plan.state) this.state.set(id, record);
    for (const [author, head] of plan.heads) this.heads.set(author, head);
    this.lamport = plan.lamport;
    this.cached = undefined;
  }

  head(author: string): FeedHead | undefined {
    return this.heads.get(author);
  }

  clock(): number {
    return this.lamport;
  }

  vector(): VersionVector {
    return this.summary().vector;
  }

  digest(): string {
    return this.summary().digest;
  }

  /** The encoded entries `this` holds that `other` (by its vector) lacks, up to `limit`. */
  entriesMissingFrom(other: VersionVector, limit = Infinity): unknown[] {
    const out: unknown[] = [];
    for (const range of missingRanges(other, this.vector())) {
      const feed = this.feeds.get(range.author)!;
      for (let seq = range.from; seq <= range.to && out.length < limit; seq += 1) {
        const stored = feed.get(seq);
        if (stored !== undefined) out.push(JSON.parse(stored.encoded));
      }
    }
    return out;
  }

  items(): StateItem[] {
    return liveItems(this.state.values());
  }

  hasEntry(author: string, seq: number, hash: string): boolean {
    return this.feeds.get(author)?.get(seq)?.hash === hash;
  }

  entryCount(): number {
    let count = 0;
    for (const feed of this.feeds.values()) count += feed.size;
    return count;
  }

  private summary(): { vector: VersionVector; digest: string } {
    if (this.cached === undefined) {
      const vector = vectorOf(this.heads);
      this.cached = { vector, digest: vectorDigest(vector) };
    }
    return this.cached;
  }
}
