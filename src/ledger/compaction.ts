import type { FeedHead } from './feed-check.ts';
import { stateKey, type StateRecord } from './merge.ts';

/**
 * Compaction policy. An entry is KEPT when it is
 *   - its author's head (the newest entry this node holds from that author), or
 *   - the current state of its (bucket, key) — the winner, tombstones included;
 * every other entry is superseded and may be deleted.
 *
 * Why this is safe: state is a function of winners only, and a winner is never pruned, so the
 * state of every node is unchanged; the head keeps each author's seq and hash, so version
 * vectors, new appends (prev = head hash) and Lamport clocks continue. Each kept entry still
 * carries its author's signature, so it verifies on its own.
 *
 * Limits (documented for operators):
 *   - growth is bounded by the number of distinct keys ever written (tombstones are kept, a
 *     delete must keep winning over older puts still travelling) plus one head per author;
 *   - a feed with holes cannot be checked link by link: a node syncing from a compacted peer
 *     accepts holes on the sync path, trusting that peer (an admitted member) not to withhold
 *     entries it still holds. Gossip never accepts holes;
 *   - `history` shows only kept entries.
 */
export function isKept(
  entry: { author: string; seq: number; bucket: string; key: string },
  hash: string,
  heads: ReadonlyMap<string, FeedHead>,
  state: ReadonlyMap<string, StateRecord>,
): boolean {
  if (heads.get(entry.author)?.seq === entry.seq) return true;
  return state.get(stateKey(entry.bucket, entry.key))?.hash === hash;
}
