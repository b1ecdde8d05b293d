import type { Scenario } from './scenario.ts';

interface Pull {
  peer: number;
  startAt: number;
  /** When the peer answers with everything it holds then. */
  answeredAt: number;
  /** When the answer (and the entries it lacked) reach the puller. */
  receivedAt: number;
}

/**
 * The ledger's pulls (anti-entropy) that an init master asks for before it proposes: a pull
 * from a peer starts at `startAt`, the peer answers with every first record it holds at
 * `answeredAt` (one message delay later; a lost message costs the repair delay), and from
 * `receivedAt` the puller holds them and counts the peer as covered since `startAt`. A pull
 * across a cut, or to a node that is down when it should answer, never completes: the init
 * master then falls back to its sync window. Only first records travel this way (a node's later
 * votes reach it as before), which only makes the puller see less.
 */
export class LedgerPulls {
  private readonly scenario: Scenario;
  /** When each node wrote its first record (Infinity until it does), owned by the caller. */
  private readonly helloAt: Float64Array;
  private readonly helloMessage: number;
  private readonly pending = new Map<number, Pull[]>();
  /** Per puller: the earliest time it holds each node's first record through a pull. */
  private readonly held = new Map<number, Float64Array>();
  private readonly covered = new Map<number, Map<number, number>>();
  private count = 0;

  constructor(scenario: Scenario, helloAt: Float64Array, helloMessage: number) {
    this.scenario = scenario;
    this.helloAt = helloAt;
    this.helloMessage = helloMessage;
  }

  /** Starts a pull by `node` from `peer`; returns when its answer arrives, if it ever does. */
  request(node: number, peer: number, time: number): number | undefined {
    const scenario = this.scenario;
    const message = -1000 - this.count++;
    const answeredAt = time + scenario.delay(node, peer, message);
    const receivedAt = answeredAt + scenario.delay(peer, node, message);
    const p = scenario.partition;
    const cut =
      p !== undefined && scenario.side[node] !== scenario.side[peer] && time < p.end && receivedAt >= p.start;
    if (cut || !scenario.up(peer, answeredAt)) return undefined;
    let list = this.pending.get(node);
    if (list === undefined) this.pending.set(node, (list = []));
    list.push({ peer, startAt: time, answeredAt, receivedAt });
    return receivedAt;
  }

  /** Applies the answers `node` has received by `time` (call before reading its view). */
  apply(node: number, time: number): void {
    const list = this.pending.get(node);
    if (list === undefined) return;
    const n = this.helloAt.length;
    for (let index = list.length - 1; index >= 0; index--) {
      const pull = list[index]!;
      if (pull.receivedAt > time) continue;
      list.splice(index, 1);
      let held = this.held.get(node);
      if (held === undefined) this.held.set(node, (held = new Float64Array(n).fill(Infinity)));
      for (let j = 0; j < n; j++) {
        const written = this.helloAt[j]!;
        if (written > pull.answeredAt) continue;
        const atPeer =
          j === pull.peer ? written : this.scenario.arrival(j, pull.peer, written, this.helloMessage);
        if (atPeer <= pull.answeredAt && pull.receivedAt < held[j]!) held[j] = pull.receivedAt;
      }
      let covered = this.covered.get(node);
      if (covered === undefined) this.covered.set(node, (covered = new Map<number, number>()));
      covered.set(pull.peer, Math.max(pull.startAt, covered.get(pull.peer) ?? -Infinity));
    }
  }

  /** When `node` holds `author`'s first record through a pull (Infinity: not through one). */
  heldAt(node: number, author: number): number {
    return this.held.get(node)?.[author] ?? Infinity;
  }

  coveredSince(node: number, peer: number): number | undefined {
    return this.covered.get(node)?.get(peer);
  }
}
