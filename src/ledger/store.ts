import { ClassicLevel } from 'classic-level';
import { SMALL_LEVELDB } from '../shared/level-options.ts';
import type { AbstractSublevel } from 'abstract-level';
import type { Candidate, FeedHead } from './feed-check.ts';
import { stateKey, type StateRecord } from './merge.ts';

type Sub = AbstractSublevel<ClassicLevel<string, string>, string | Buffer | Uint8Array, string, string>;

/** Everything one commit writes, atomically. */
export interface Commit {
  entries: Candidate[];
  state: StateRecord[];
  heads: Map<string, FeedHead>;
  lamport: number;
}

export interface StoredEntry {
  author: string;
  seq: number;
  encoded: string;
}

/** Sorts entry keys by (author, seq): seq as fixed-width hex covers every safe integer. */
function entryKey(author: string, seq: number): string {
  return `${author}!${seq.toString(16).padStart(14, '0')}`;
}

function parseEntryKey(key: string): { author: string; seq: number } {
  const bang = key.lastIndexOf('!');
  return { author: key.slice(0, bang), seq: Number.parseInt(key.slice(bang + 1), 16) };
}

/**
 * The ledger's LevelDB: sublevels `e` (entries by author and seq, canonical JSON), `k` (index
 * bucket/key -> entries, for history), `s` (state by bucket/key, tombstones included), `h` (each
 * author's head) and `m` (metadata: the Lamport clock). One batch per commit keeps them in step.
 */
export class LedgerStore {
  private readonly db: ClassicLevel<string, string>;
  private readonly entries: Sub;
  private readonly index: Sub;
  private readonly state: Sub;
  private readonly heads: Sub;
  private readonly meta: Sub;

  constructor(path: string) {
    this.db = new ClassicLevel<string, string>(path, { valueEncoding: 'utf8', ...SMALL_LEVELDB });
    this.entries = this.db.sublevel<string, string>('e', { valueEncoding: 'utf8' });
    this.index = this.db.sublevel<string, string>('k', { valueEncoding: 'utf8' });
    this.state = this.db.sublevel<string, string>('s', { valueEncoding: 'utf8' });
    this.heads = this.db.sublevel<string, string>('h', { valueEncoding: 'utf8' });
    this.meta = this.db.sublevel<string, string>('m', { valueEncoding: 'utf8' });
  }

  async open(): Promise<void> {
    await this.db.open();
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  async loadHeads(): Promise<Map<string, FeedHead>> {
    const heads = new Map<string, FeedHead>();
    for await (const [author, value] of this.heads.iterator())
      heads.set(author, JSON.parse(value) as FeedHead);
    return heads;
  }

  async loadState(): Promise<Map<string, StateRecord>> {
    const state = new Map<string, StateRecord>();
    for await (const [id, value] of this.state.iterator()) state.set(id, JSON.parse(value) as StateRecord);
    return state;
  }

  async loadLamport(): Promise<number> {
    const value = await this.meta.get('lamport');
    return value === undefined ? 0 : Number(value);
  }

  async countEntries(): Promise<number> {
    let count = 0;
    for await (const _key of this.entries.keys()) count += 1;
    return count;
  }

  /**
   * Writes commits (entries, index, state, heads and clock) in order in one atomic batch: a later
   * commit's record of a key or head overwrites an earlier one's. `sync` waits for fsync.
   */
  async commit(commits: Commit[], sync: boolean): Promise<void> {
    const batch = this.db.batch();
    for (const commit of commits) {
      for (const { entry, encoded } of commit.entries) {
        const id = entryKey(entry.author, entry.seq);
        batch.put(id, encoded, { sublevel: this.entries });
        batch.put(`${stateKey(entry.bucket, entry.key)}\u0000${id}`, '', { sublevel: this.index });
      }
      for (const record of commit.state)
        batch.put(stateKey(record.bucket, record.key), JSON.stringify(record), { sublevel: this.state });
      for (const [author, head] of commit.heads)
        batch.put(author, JSON.stringify(head), { sublevel: this.heads });
      batch.put('lamport', String(commit.lamport), { sublevel: this.meta });
    }
    await batch.write({ sync });
  }

  /** One author's stored entries with seq in [from, to], in order, at most `limit`. */
  async readRange(author: string, from: number, to: number, limit: number): Promise<StoredEntry[]> {
    const out: StoredEntry[] = [];
    for await (const [key, encoded] of this.entries.iterator({
      gte: entryKey(author, from),
      lte: entryKey(author, to),
      limit,
    })) {
      out.push({ ...parseEntryKey(key), encoded });
    }
    return out;
  }

  async readEntry(author: string, seq: number): Promise<string | undefined> {
    return this.entries.get(entryKey(author, seq));
  }

  /** Stored entries of one bucket/key (those not compacted away). */
  async history(bucket: string, key: string): Promise<string[]> {
    const prefix = `${stateKey(bucket, key)}\u0000`;
    const ids: string[] = [];
    for await (const id of this.index.keys({ gte: prefix, lt: `${prefix}\uffff` }))
      ids.push(id.slice(prefix.length));
    const values = await this.entries.getMany(ids);
    return values.filter((value): value is string => value !== undefined);
  }

  /** Every stored entry in (author, seq) order. */
  async *all(): AsyncGenerator<StoredEntry> {
    for await (const [key, encoded] of this.entries.iterator()) yield { ...parseEntryKey(key), encoded };
  }

  /** Deletes entries (and their index rows) that compaction found superseded. */
  async prune(victims: { author: string; seq: number; bucket: string; key: string }[]): Promise<void> {
    const batch = this.db.batch();
    for (const victim of victims) {
      const id = entryKey(victim.author, victim.seq);
      batch.del(id, { sublevel: this.entries });
      batch.del(`${stateKey(victim.bucket, victim.key)}\u0000${id}`, { sublevel: this.index });
    }
    await batch.write();
  }
}
