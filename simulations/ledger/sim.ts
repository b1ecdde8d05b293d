/**
 * Seeded discrete-event simulation of ledger replication among many nodes, running the real entry
 * checks and merge (Replica: parseIncoming -> selectAcceptable -> planMerge, real Ed25519
 * signatures) over a modelled network instead of libp2p:
 *   - gossip: each node forwards newly accepted entries to its mesh neighbours (a random graph of
 *     degree ~`degree`, like a gossipsub mesh), each hop delayed 5-`maxDelayMs` ms, lost with
 *     probability `loss`;
 *   - gap repair: a gossip arrival after a hole makes the receiver pull from the sender at once;
 *   - anti-entropy: every node, every `syncIntervalMs` ±20 %, pulls from one random reachable
 *     neighbour: digest first, the missing ranges only when digests differ (both directions);
 *   - news spreads: a sync that brought new entries is followed by syncs with two other random
 *     neighbours (as the Ledger does), so repairs travel in round trips;
 *   - a link that comes back after a partition syncs at once (the daemon reports a newly
 *     admitted connection);
 *   - partitions: during the write phase the nodes are split into 2-3 random groups several
 *     times; messages between groups are dropped. The last partition heals at `healAtMs`.
 * Writes (each acknowledged by its writer at once) happen only before the heal. Result: time from
 * the heal until every node holds every entry, and a check that every acknowledged write is
 * present on every node with the same merged state.
 */
import { createHash } from 'node:crypto';
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import { PeerSigner, SignatureVerifier } from '../../src/shared/peer-keys.ts';
import type { AuthorKeys } from '../../src/ledger/incoming.ts';
import { Replica } from '../../src/ledger/replica.ts';
import type { Candidate } from '../../src/ledger/feed-check.ts';
import { FeedWriter } from '../../src/ledger/feed-writer.ts';
import { mulberry32 } from '../../src/shared/mulberry32.ts';

export interface SimulationOptions {
  seed: number;
  nodes: number;
  writes: number;
  keys: number;
  degree: number;
  loss: number;
  maxDelayMs: number;
  syncIntervalMs: number;
  partitions: number;
  healAtMs: number;
  /** 1: a link that comes back syncs at once (as on a new connection); 0: only periodic syncs. */
  syncOnReconnect: number;
  /** Give up this long after the heal. */
  limitMs: number;
}

export const DEFAULTS: SimulationOptions = {
  seed: 1,
  nodes: 1000,
  writes: 500,
  keys: 100,
  degree: 6,
  loss: 0.05,
  maxDelayMs: 200,
  syncIntervalMs: 30_000,
  partitions: 3,
  healAtMs: 60_000,
  syncOnReconnect: 1,
  limitMs: 600_000,
};

export interface SimulationResult {
  options: SimulationOptions;
  converged: boolean;
  /** Simulated ms from the last heal until every node had every entry. */
  convergeAfterHealMs: number | null;
  acknowledgedWrites: number;
  missingWrites: number;
  identicalState: boolean;
  messages: {
    gossip: number;
    gossipLost: number;
    gossipCut: number;
    syncs: number;
    syncsIdle: number;
    syncEntries: number;
  };
  rejected: number;
  wallSeconds: number;
}

/** Signature checks are pure: one real verification per distinct (author, bytes, sig), shared by all nodes. */
class SharedVerifier implements AuthorKeys {
  private readonly inner = new SignatureVerifier();
  private readonly results = new Map<string, boolean>();

  knows(author: string): boolean {
    return this.inner.knows(author);
  }

  verify(author: string, bytes: Uint8Array, signature: string): boolean {
    const id = `${author}:${signature}:${createHash('sha256').update(bytes).digest('hex')}`;
    let result = this.results.get(id);
    if (result === undefined) {
      result = this.inner.verify(author, bytes, signature);
      this.results.set(id, result);
    }
    return result;
  }
}

interface Event {
  at: number;
  order: number;
  run: () => void;
}

/** Binary min-heap on (at, order): deterministic for equal times. */
class Queue {
  private readonly heap: Event[] = [];
  private counter = 0;

  push(at: number, run: () => void): void {
    const heap = this.heap;
    heap.push({ at, order: this.counter++, run });
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!before(heap[index]!, heap[parent]!)) break;
      [heap[index], heap[parent]] = [heap[parent]!, heap[index]!];
      index = parent;
    }
  }

  pop(): Event | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last !== undefined) {
      heap[0] = last;
      let index = 0;
      for (;;) {
        const left = 2 * index + 1;
        const right = left + 1;
        let smallest = index;
        if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left;
        if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right;
        if (smallest === index) break;
        [heap[index], heap[smallest]] = [heap[smallest]!, heap[index]!];
        index = smallest;
      }
    }
    return top;
  }
}

function before(a: Event, b: Event): boolean {
  return a.at !== b.at ? a.at < b.at : a.order < b.order;
}

export async function runSimulation(overrides: Partial<SimulationOptions> = {}): Promise<SimulationResult> {
  const options = { ...DEFAULTS, ...overrides };
  const wallStart = performance.now();
  const random = mulberry32(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const verifier = new SharedVerifier();

  // Nodes with keys derived from the seed, so every run with one seed is identical.
  const writers: FeedWriter[] = [];
  for (let index = 0; index < options.nodes; index += 1) {
    const seed = createHash('sha256').update(`ledger-sim:${options.seed}:${index}`).digest();
    writers.push(new FeedWriter(new PeerSigner(await generateKeyPairFromSeed('Ed25519', seed))));
  }
  const replicas = writers.map(() => new Replica(verifier));

  // A gossip mesh: every node links to degree/2 random others (undirected).
  const neighbours = writers.map(() => new Set<number>());
  for (let index = 0; index < options.nodes; index += 1)
    for (let link = 0; link < Math.max(1, options.degree / 2); link += 1) {
      const other = Math.floor(random() * options.nodes);
      if (other === index) continue;
      neighbours[index]!.add(other);
      neighbours[other]!.add(index);
    }
  const mesh = neighbours.map((set) => [...set]);

  // Partition schedule: `partitions` splits in the write phase, the last ending at healAtMs.
  const group = new Int32Array(options.nodes);
  const queue = new Queue();
  let now = 0;
  const span = options.healAtMs / Math.max(1, options.partitions);
  for (let round = 0; round < options.partitions; round += 1) {
    const startAt = round * span + random() * span * 0.3;
    const groups = 2 + Math.floor(random() * 2);
    queue.push(startAt, () => {
      regroup(() => Math.floor(random() * groups));
    });
    const endAt = round === options.partitions - 1 ? options.healAtMs : startAt + span * 0.6;
    queue.push(endAt, () => regroup(() => 0));
  }
  const reachable = (a: number, b: number): boolean => group[a] === group[b];
  // A link that comes back is a new connection: both ends sync at once (onPeerAdmitted).
  const regroup = (groupOf: () => number): void => {
    const before = Int32Array.from(group);
    for (let index = 0; index < options.nodes; index += 1) group[index] = groupOf();
    if (options.syncOnReconnect === 0) return;
    for (let a = 0; a < options.nodes; a += 1)
      for (const b of mesh[a]!) if (before[a] !== before[b] && group[a] === group[b]) pull(a, b);
  };

  const messages = { gossip: 0, gossipLost: 0, gossipCut: 0, syncs: 0, syncsIdle: 0, syncEntries: 0 };
  const delay = (): number => 5 + random() * (options.maxDelayMs - 5);

  const forward = (from: number, candidates: Candidate[], except?: number): void => {
    if (candidates.length === 0) return;
    const entries = candidates.map((candidate) => candidate.entry);
    for (const to of mesh[from]!) {
      if (to === except) continue;
      messages.gossip += 1;
      if (random() < options.loss) {
        messages.gossipLost += 1;
        continue;
      }
      queue.push(now + delay(), () => {
        if (!reachable(from, to)) {
          messages.gossipCut += 1;
          return;
        }
        const { accepted, waiting } = replicas[to]!.receive(entries, false);
        forward(to, accepted, from);
        if (waiting.size > 0) pull(to, from);
      });
    }
  };

  // One anti-entropy exchange: `from` pulls from `to`, and `to` pulls back what `from` has more.
  const pull = (from: number, to: number): void => {
    messages.syncs += 1;
    queue.push(now + delay(), () => {
      if (!reachable(from, to)) return;
      const a = replicas[from]!;
      const b = replicas[to]!;
      if (a.digest() === b.digest()) {
        messages.syncsIdle += 1;
        return;
      }
      queue.push(now + delay(), () => {
        if (!reachable(from, to)) return;
        const toA = b.entriesMissingFrom(a.vector());
        const toB = a.entriesMissingFrom(b.vector());
        messages.syncEntries += toA.length + toB.length;
        // As the Ledger does: a sync that brought news is followed by one with another peer.
        if (a.receive(toA, true).accepted.length > 0) spread(from, to);
        if (b.receive(toB, true).accepted.length > 0) spread(to, from);
      });
    });
  };

  const spread = (node: number, except: number): void => {
    const peers = mesh[node]!.filter((peer) => peer !== except && reachable(node, peer));
    for (let count = 0; count < 2 && peers.length > 0; count += 1)
      pull(node, peers.splice(Math.floor(random() * peers.length), 1)[0]!);
  };

  const scheduleSync = (node: number, first: boolean): void => {
    const wait = options.syncIntervalMs * (first ? random() : 0.8 + 0.4 * random());
    queue.push(now + wait, () => {
      const peers = mesh[node]!.filter((peer) => reachable(node, peer));
      if (peers.length > 0) pull(node, pick(peers));
      scheduleSync(node, false);
    });
  };
  for (let index = 0; index < options.nodes; index += 1) scheduleSync(index, true);

  // Acknowledged writes: at random times before the heal, on random nodes.
  const acknowledged: { author: string; seq: number; hash: string }[] = [];
  for (let write = 0; write < options.writes; write += 1) {
    queue.push(random() * options.healAtMs * 0.95, () => {
      const node = Math.floor(random() * options.nodes);
      const writer = writers[node]!;
      const replica = replicas[node]!;
      writer.observe(replica.clock());
      const candidate =
        random() < 0.1
          ? writer.write('put', 'nodes', writer.peerId, { name: `n${node}`, at: Math.round(now) })
          : writer.write(
              random() < 0.1 ? 'del' : 'put',
              'ops',
              `k${Math.floor(random() * options.keys)}`,
              write,
            );
      replica.apply([candidate]);
      acknowledged.push({ author: candidate.entry.author, seq: candidate.entry.seq, hash: candidate.hash });
      forward(node, [candidate]);
    });
  }

  // Run until every replica holds every acknowledged write (checked every 100 simulated ms).
  let converged = false;
  let convergedAt: number | null = null;
  const target = (): string | undefined => {
    const digest = replicas[0]!.digest();
    return replicas.every((replica) => replica.digest() === digest) ? digest : undefined;
  };
  const check = (): void => {
    if (now >= options.healAtMs && acknowledged.length === options.writes && target() !== undefined) {
      converged = true;
      convergedAt = now;
      return;
    }
    if (now < options.healAtMs + options.limitMs) queue.push(now + 100, check);
  };
  queue.push(options.healAtMs, check);
  for (;;) {
    const event = queue.pop();
    if (event === undefined || converged) break;
    now = event.at;
    event.run();
  }

  let missingWrites = 0;
  for (const write of acknowledged)
    for (const replica of replicas)
      if (!replica.hasEntry(write.author, write.seq, write.hash)) missingWrites += 1;
  const reference = JSON.stringify(replicas[0]!.items());
  const identicalState = replicas.every((replica) => JSON.stringify(replica.items()) === reference);
  const rejected = replicas.reduce(
    (sum, replica) => sum + Object.values(replica.counters.rejected).reduce((a, b) => a + b, 0),
    0,
  );
  return {
    options,
    converged,
    convergeAfterHealMs: convergedAt === null ? null : Math.round(convergedAt - options.healAtMs),
    acknowledgedWrites: acknowledged.length,
    missingWrites,
    identicalState,
    messages,
    rejected,
    wallSeconds: Math.round((performance.now() - wallStart) / 100) / 10,
  };
}
