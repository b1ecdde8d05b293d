import type { JsonValue } from './canonical.ts';
import type { Entry } from './entry.ts';

/** The value of one (bucket, key): the winning entry, a tombstone when it was a delete. */
export interface StateRecord {
  bucket: string;
  key: string;
  value: JsonValue | null;
  author: string;
  lamport: number;
  time: number;
  seq: number;
  hash: string;
  deleted: boolean;
}

/** What readers see: a live (not deleted) record. */
export type StateItem = Omit<StateRecord, 'deleted'>;

export type StateChange = StateItem & { deleted: boolean };

/**
 * The total order that decides every key: higher Lamport clock wins, then the larger author id.
 * One author never signs two entries with the same Lamport clock (its clock only grows), so
 * two different entries never tie.
 */
export function beats(
  a: { lamport: number; author: string },
  b: { lamport: number; author: string },
): boolean {
  if (a.lamport !== b.lamport) return a.lamport > b.lamport;
  return a.author > b.author;
}

export function stateKey(bucket: string, key: string): string {
  return `${bucket}\u0000${key}`;
}

export function recordOf(entry: Entry, hash: string): StateRecord {
  return {
    bucket: entry.bucket,
    key: entry.key,
    value: entry.op === 'put' ? entry.value : null,
    author: entry.author,
    lamport: entry.lamport,
    time: entry.time,
    seq: entry.seq,
    hash,
    deleted: entry.op === 'del',
  };
}

/**
 * Folds one entry into a state map; returns the new record when it became the winner. Applying
 * the same set of entries in any order, any number of times, gives the same map.
 */
export function applyEntry(
  state: Map<string, StateRecord>,
  entry: Entry,
  hash: string,
): StateRecord | undefined {
  const id = stateKey(entry.bucket, entry.key);
  const current = state.get(id);
  if (current !== undefined && !beats(entry, current)) return undefined;
  const record = recordOf(entry, hash);
  state.set(id, record);
  return record;
}

export function toItem(record: StateRecord): StateItem {
  const { deleted: _deleted, ...item } = record;
  return item;
}

/** Live records sorted by bucket, then key. */
export function liveItems(records: Iterable<StateRecord>, bucket?: string): StateItem[] {
  const items: StateItem[] = [];
  for (const record of records)
    if (!record.deleted && (bucket === undefined || record.bucket === bucket)) items.push(toItem(record));
  return items.sort((a, b) => compareStrings(a.bucket, b.bucket) || compareStrings(a.key, b.key));
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
