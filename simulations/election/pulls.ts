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
 * The ledger's pulls (anti-entropy) the bootstrap asks for — records of alive nodes it lacks,
 * and the init master's cover of its peers before it proposes: a pull
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
  private readonly pulls = new Map<number, Pull[]>();
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
    let list = this.pulls.get(node);
    if (list === undefined) this.pulls.set(node, (list = []));
    list.push({ peer, startAt: time, answeredAt, receivedAt });
    return receivedAt;
  }

  /**
   * When `node` holds `author`'s first record through a pull answered by `time` (Infinity: not
   * through one). Asked only for records that have not reached it directly, so the few such
   * records, not every record, pay for the pulls.
   */
  heldAt(node: number, author: number, time: number): number {
    const written = this.helloAt[author]!;
    let held = Infinity;
    for (const pull of this.pulls.get(node) ?? []) {
      if (pull.receivedAt > time || pull.receivedAt >= held || written > pull.answeredAt) continue;
      const atPeer =
        author === pull.peer ? written : this.scenario.arrival(author, pull.peer, written, this.helloMessage);
      if (atPeer <= pull.answeredAt) held = pull.receivedAt;
    }
    return held;
  }

  /** The start of the latest pull by `node` from `peer` answered by `time`. */
  coveredSince(node: number, peer: number, time: number): number | undefined {
    let since: number | undefined;
    for (const pull of this.pulls.get(node) ?? [])
      if (pull.peer === peer && pull.receivedAt <= time && pull.startAt > (since ?? -Infinity))
        since = pull.startAt;
    return since;
  }
}
