/**
 * The world of one simulated run, all derived from a seed: boot and crash times, one optional
 * partition, and per-message delays and losses that are a pure function of (seed, sender,
 * receiver, message) so that asking twice gives the same answer without storing N² numbers.
 */
import { mulberry32 } from '../../src/shared/mulberry32.ts';

export interface SimParams {
  nodes: number;
  minimumNodes: number;
  masters: number;
  /** Boot times are uniform in [0, bootSpreadMs]. */
  bootSpreadMs: number;
  delayMinMs: number;
  delayMaxMs: number;
  /** Chance a message is lost; the ledger's anti-entropy then delivers it `antiEntropyMs` later. */
  loss: number;
  antiEntropyMs: number;
  /** Chance a run has a partition during bootstrap, cutting off `partitionShare` of the nodes. */
  partitionRate: number;
  partitionMinMs: number;
  /**
   * `boot`: the cut may come from the first boot on (it can separate the very first nodes before
   * anything of theirs spread: two networks booting apart, which no election can join);
   * `after-quorum`: it comes once the first minimumNodes nodes have been up for the settle time.
   */
  partitionStart: 'boot' | 'after-quorum';
  partitionMaxMs: number;
  /** Chance each node crashes (for good) at a random time after it boots. */
  crashRate: number;
  /**
   * The bootstrap vote waits until every elector's record has been visible this long: the
   * longest a record takes to reach a connected node (delay, or a loss repaired by anti-entropy).
   */
  syncWindowMs: number;
  /** Presence TTL: a node unheard for this long is no longer alive. */
  ttlMs: number;
  tickMs: number;
  settleMs: number;
  staggerMs: number;
  masterGraceMs: number;
  /** Simulated time per run. */
  horizonMs: number;
}

export const DEFAULT_PARAMS: SimParams = {
  nodes: 1000,
  minimumNodes: 3,
  masters: 1,
  bootSpreadMs: 20_000,
  delayMinMs: 5,
  delayMaxMs: 150,
  loss: 0.05,
  antiEntropyMs: 2_000,
  partitionRate: 0.3,
  partitionMinMs: 500,
  partitionStart: 'after-quorum',
  partitionMaxMs: 8_000,
  crashRate: 0.02,
  syncWindowMs: 2_000 + 150,
  ttlMs: 4_000,
  tickMs: 1_000,
  settleMs: 500,
  staggerMs: 250,
  masterGraceMs: 10_000,
  horizonMs: 60_000,
};

/** A number in [0, 1) that depends only on its arguments. */
export function hashRandom(seed: number, a: number, b: number, c: number): number {
  let h = seed ^ Math.imul(a + 1, 0x9e3779b1) ^ Math.imul(b + 1, 0x85ebca77) ^ Math.imul(c + 1, 0xc2b2ae3d);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

export class Scenario {
  readonly params: SimParams;
  readonly seed: number;
  readonly boot: Float64Array;
  readonly crash: Float64Array;
  /** 1 for nodes cut off by the partition. */
  readonly side: Uint8Array;
  readonly partition: { start: number; end: number } | undefined;
  /** Time the minimumNodes-th node booted. */
  readonly quorumBootAt: number;

  constructor(params: SimParams, seed: number) {
    this.params = params;
    this.seed = seed;
    const random = mulberry32(seed);
    const n = params.nodes;
    this.boot = new Float64Array(n);
    this.crash = new Float64Array(n).fill(Infinity);
    this.side = new Uint8Array(n);
    for (let i = 0; i < n; i++) this.boot[i] = random() * params.bootSpreadMs;
    for (let i = 0; i < n; i++)
      if (random() < params.crashRate)
        this.crash[i] = this.boot[i]! + random() * (params.horizonMs - this.boot[i]!);
    const sorted = [...this.boot].sort((a, b) => a - b);
    this.quorumBootAt = sorted[Math.min(params.minimumNodes, n) - 1] ?? 0;
    if (random() < params.partitionRate) {
      // During bootstrap: it starts before the first decision can have spread.
      const start =
        params.partitionStart === 'boot'
          ? random() * (this.quorumBootAt + 2_000)
          : this.quorumBootAt + params.settleMs + random() * 2_000;
      const length = params.partitionMinMs + random() * (params.partitionMaxMs - params.partitionMinMs);
      this.partition = { start, end: start + length };
      const share = 0.1 + random() * 0.4;
      for (let i = 0; i < n; i++) this.side[i] = random() < share ? 1 : 0;
    } else this.partition = undefined;
  }

  delay(from: number, to: number, message: number): number {
    const { delayMinMs, delayMaxMs, loss, antiEntropyMs } = this.params;
    const r = hashRandom(this.seed, from, to, message);
    const lost = hashRandom(this.seed ^ 0x5bd1e995, from, to, message) < loss;
    return delayMinMs + r * (delayMaxMs - delayMinMs) + (lost ? antiEntropyMs : 0);
  }

  /** When a ledger entry written by `from` at `sentAt` reaches `to` (after `to` booted and synced). */
  arrival(from: number, to: number, sentAt: number, message: number): number {
    if (from === to) return sentAt;
    let at = Math.max(sentAt + this.delay(from, to, message), this.boot[to]! + this.delay(to, from, -1));
    const p = this.partition;
    // Entries spread by gossip and anti-entropy through any member: one that reached the
    // receiver's side before the cut is there for it to sync from.
    const spread = sentAt + this.delay(from, to, message);
    if (
      p !== undefined &&
      this.side[from] !== this.side[to] &&
      at >= p.start &&
      sentAt < p.end &&
      spread >= p.start
    )
      at = Math.max(at, p.end + this.delay(from, to, message + 7919));
    return at;
  }

  /**
   * Presence: `other` is alive for `self` at `time` (heard within the TTL, not cut off for longer
   * than it); `heardAt` when the caller has it already.
   */
  alive(self: number, other: number, time: number, heardAt = this.heardAt(self, other)): boolean {
    if (self === other) return true;
    if (heardAt > time) return false;
    if (this.crash[other]! + this.params.ttlMs <= time) return false;
    const p = this.partition;
    // Heard before the cut: alive until the TTL runs out; first heard during it: not at all.
    if (p !== undefined && this.side[self] !== this.side[other] && time >= p.start && time < p.end)
      if (heardAt >= p.start || time >= p.start + this.params.ttlMs) return false;
    return true;
  }

  /** When `self` first hears `other`'s presence: once both are up, after a delay (or a lost round). */
  heardAt(self: number, other: number): number {
    return Math.max(this.boot[other]!, this.boot[self]!) + this.delay(other, self, -2);
  }

  up(node: number, time: number): boolean {
    return this.boot[node]! <= time && time < this.crash[node]!;
  }
}
