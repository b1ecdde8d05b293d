import type { Candidate } from './feed-check.ts';
import type { StoredEntry } from './store.ts';

/**
 * The entries stored in the last minute, in memory: what a sync asks for at a mass boot (every
 * member's fresh records and votes) is read from here instead of LevelDB, whose reads took
 * 80-400 ms each on a hub also writing everyone's entries, one feed after another.
 * Bounded by age and bytes; a range not wholly here is read from the store.
 */
export class RecentEntries {
  private readonly byAuthor = new Map<string, Map<number, string>>();
  /** Oldest first, for expiry; entries before `head` are already gone. */
  private order: Array<{ author: string; seq: number; at: number; bytes: number }> = [];
  private head = 0;
  private bytes = 0;
  private readonly maxAgeMs: number;
  private readonly maxBytes: number;

  constructor(maxAgeMs = 60_000, maxBytes = 4 * 1024 * 1024) {
    this.maxAgeMs = maxAgeMs;
    this.maxBytes = maxBytes;
  }

  add(candidates: Candidate[], nowMs: number): void {
    for (const { entry, encoded } of candidates) {
      let feed = this.byAuthor.get(entry.author);
      if (feed === undefined) {
        feed = new Map();
        this.byAuthor.set(entry.author, feed);
      }
      feed.set(entry.seq, encoded);
      this.order.push({ author: entry.author, seq: entry.seq, at: nowMs, bytes: encoded.length });
      this.bytes += encoded.length;
    }
    this.expire(nowMs);
  }

  /** Entries `from`..`to` of a feed (at most `limit`), or undefined when any of them is not here. */
  read(author: string, from: number, to: number, limit: number, nowMs: number): StoredEntry[] | undefined {
    this.expire(nowMs);
    const feed = this.byAuthor.get(author);
    if (feed === undefined) return undefined;
    const result: StoredEntry[] = [];
    for (let seq = from; seq <= to && result.length < limit; seq += 1) {
      const encoded = feed.get(seq);
      if (encoded === undefined) return undefined;
      result.push({ author, seq, encoded });
    }
    return result;
  }

  /** Drops one entry (compacted away: not to be served any more). */
  forget(author: string, seq: number): void {
    this.byAuthor.get(author)?.delete(seq);
  }

  /** An author's entries held here, in seq order, at most `limit` (the newest). */
  ofAuthor(author: string, limit: number, nowMs: number): StoredEntry[] {
    this.expire(nowMs);
    const feed = this.byAuthor.get(author);
    if (feed === undefined) return [];
    return [...feed]
      .sort(([a], [b]) => a - b)
      .slice(-limit)
      .map(([seq, encoded]) => ({ author, seq, encoded }));
  }

  private expire(nowMs: number): void {
    while (this.head < this.order.length) {
      const oldest = this.order[this.head]!;
      if (nowMs - oldest.at <= this.maxAgeMs && this.bytes <= this.maxBytes) break;
      this.head += 1;
      this.bytes -= oldest.bytes;
      const feed = this.byAuthor.get(oldest.author);
      feed?.delete(oldest.seq);
      if (feed?.size === 0) this.byAuthor.delete(oldest.author);
    }
    // Drops the spent front now and then, not on every expiry (a full cache expires on each add).
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
  }
}
