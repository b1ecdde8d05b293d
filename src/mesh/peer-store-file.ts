import { MemoryDatastore } from 'datastore-core';
import type { AbortOptions } from '@libp2p/interface';
import { Key } from 'interface-datastore';
import { readFileIfExists, writeFileAtomic } from '../shared/secure-file.ts';

const SAVE_INTERVAL_MS = 30_000;

interface Snapshot {
  version: 1;
  /** Datastore key → value, base64. */
  entries: Record<string, string>;
}

/**
 * libp2p's datastore (its peer store: addresses, keys and protocols of the peers we met), kept
 * in memory and saved to one file every 30 s when it changed and at stop. libp2p reads and
 * rewrites a peer's record on every identify and address change, dozens of times while a mesh
 * forms; on disk that was the largest single cost of a node accepting many joins. It is a
 * cache: a crash loses at most the last 30 s of it, and members are relearnt from the ledger.
 */
export class PeerStoreFile extends MemoryDatastore {
  private readonly path: string;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(path: string) {
    super();
    this.path = path;
  }

  /** Loads the saved peer store (a missing or unreadable file is an empty one) and saves it from now on. */
  async open(): Promise<void> {
    for (const [key, value] of Object.entries((await this.load())?.entries ?? {})) {
      if (typeof value === 'string') {
        super.put(new Key(key), new Uint8Array(Buffer.from(value, 'base64'))) as Key; // synchronous in memory
      }
    }
    // A failed save (disk full) is retried at the next interval.
    this.timer = setInterval(() => void this.save().catch(() => (this.dirty = true)), SAVE_INTERVAL_MS);
    this.timer.unref();
  }

  private async load(): Promise<Snapshot | undefined> {
    const bytes = await readFileIfExists(this.path);
    if (bytes === undefined) return undefined;
    try {
      const snapshot = JSON.parse(bytes.toString('utf8')) as Snapshot;
      return snapshot.version === 1 && typeof snapshot.entries === 'object' ? snapshot : undefined;
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.save();
  }

  override put(key: Key, value: Uint8Array, options?: AbortOptions): Key {
    this.dirty = true;
    return super.put(key, value, options) as Key;
  }

  override delete(key: Key, options?: AbortOptions): void {
    this.dirty = true;
    super.delete(key, options) as void;
  }

  private async save(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    const entries: Record<string, string> = {};
    for await (const { key, value } of this.query({})) {
      entries[key.toString()] = Buffer.from(value).toString('base64');
    }
    const snapshot: Snapshot = { version: 1, entries };
    await writeFileAtomic(this.path, JSON.stringify(snapshot));
  }
}
