import {
  electorsOf,
  evaluate,
  initiationDelayMs,
  hasQuorum,
  type Decision,
  type Proposal,
  type VoteRecord,
} from '../../src/roles/index.ts';
import { EventQueue } from './heap.ts';
import { LedgerPulls } from './pulls.ts';
import type { Scenario } from './scenario.ts';

export interface RunResult {
  /** An epoch-1 decision committed before the horizon. */
  committed: boolean;
  /** From the minimumNodes-th boot to the first epoch-1 commit (ms). */
  commitLatencyMs: number | undefined;
  /** Epochs for which two different decisions committed (must be 0). */
  splitEpochs: number;
  /** The first such epoch, if any. */
  firstSplitEpoch: number | undefined;
  /** Distinct nodes ever named cluster-init master by a committed decision (>1 = two clusters). */
  initMasters: number;
  maxEpoch: number;
  votes: number;
  evaluations: number;
  /** Up nodes at the horizon that know a decision with themselves in it, and all up nodes. */
  assigned: number;
  up: number;
  /** Time from boot (or from quorum, if later) until a node knows its role: p50 / p99 (ms). */
  roleLatencyP50Ms: number | undefined;
  roleLatencyP99Ms: number | undefined;
}

const HELLO = -10;
const COALESCE_MS = 100;

interface Tally {
  proposal: Proposal;
  base: Decision | undefined;
  voters: Set<string>;
  committed: boolean;
}

/** One run of our election: the real `evaluate` on every node, over the scenario's network. */
export function runOurs(scenario: Scenario): RunResult {
  const params = scenario.params;
  const n = params.nodes;
  const ids = Array.from({ length: n }, (_, index) => `node-${index}`);
  const indexOf = new Map(ids.map((id, index) => [id, index]));
  const helloAt = new Float64Array(n).fill(Infinity);
  const helloRecord: Array<VoteRecord | undefined> = new Array<VoteRecord | undefined>(n);
  const votes: Array<{ author: number; record: VoteRecord; at: number }> = [];
  const known: Array<Decision | undefined> = new Array<Decision | undefined>(n);
  const quorumSince: Array<number | undefined> = new Array<number | undefined>(n);
  const initiation: Array<{ hash: string; since: number } | undefined> = new Array<
    { hash: string; since: number } | undefined
  >(n);
  const done = new Uint8Array(n);
  const assignedAt = new Float64Array(n).fill(Infinity);
  // Items below n wake node i; n + i is node i's periodic tick (only the latest one counts).
  const queue = new EventQueue<number>();
  const nextTick = new Float64Array(n).fill(-1);
  // Like the service, a node coalesces wake-ups that come while it just evaluated.
  const lastEval = new Float64Array(n).fill(-Infinity);
  const pendingWake = new Float64Array(n).fill(-1);
  const tallies = new Map<string, Tally>();
  const committedByEpoch = new Map<number, Set<string>>();
  const initMasters = new Set<string>();
  const bootOrder = Uint32Array.from({ length: n }, (_, index) => index).sort(
    (a, b) => scenario.boot[a]! - scenario.boot[b]!,
  );
  /** How many nodes have booted by `time` (a prefix of bootOrder). */
  const bootedBy = (time: number): number => {
    let low = 0;
    let high = n;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (scenario.boot[bootOrder[middle]!]! <= time) low = middle + 1;
      else high = middle;
    }
    return low;
  };
  const pulls = new LedgerPulls(scenario, helloAt, HELLO);
  /** When node i last asked for a pull from node j, at key i * n + j. */
  const pulledAt = new Map<number, number>();
  let firstCommitAt: number | undefined;
  let latest: Proposal | undefined;
  let evaluations = 0;

  for (let i = 0; i < n; i++) queue.push(scenario.boot[i]! + scenario.delay(i, i, -3), i);
  // Wake the early nodes when their view first reaches minimumNodes (presence would).
  const early = scenario.quorumBootAt + params.delayMaxMs + params.tickMs;
  for (let i = 0; i < n; i++) {
    if (scenario.boot[i]! > early) continue;
    const seen: number[] = [];
    for (let j = 0; j < n; j++)
      seen.push(j === i ? scenario.boot[i]! : scenario.boot[j]! + scenario.delay(j, i, -2));
    seen.sort((a, b) => a - b);
    const reach = seen[params.minimumNodes - 1];
    if (reach !== undefined) queue.push(reach, i);
  }

  /** Presence first heard across a cut only once it healed (`Scenario.alive`). */
  const heardDuringView = (self: number, other: number, heard: number): boolean => {
    const p = scenario.partition;
    return (
      p === undefined || scenario.side[self] === scenario.side[other] || heard < p.start || heard >= p.end
    );
  };

  const unseenFor = (self: number, other: number, time: number): number => {
    if (scenario.crash[other]! <= time) return time - scenario.crash[other]!;
    const p = scenario.partition;
    if (p !== undefined && scenario.side[self] !== scenario.side[other] && time >= p.start && time < p.end)
      return time - p.start;
    return time - scenario.boot[self]!;
  };

  const record = (author: number, vote: VoteRecord, at: number): void => {
    const id = votes.length;
    votes.push({ author, record: vote, at });
    const hash = vote.hash!;
    // An adopted bootstrap vote names its proposal by hash: the init master's vote, which the
    // adopter saw, was recorded before it.
    const proposal = vote.proposal ?? tallies.get(hash)?.proposal;
    if (proposal === undefined) throw new Error(`a vote for ${hash} whose proposal no one carries`);
    let tally = tallies.get(hash);
    if (tally === undefined)
      tallies.set(hash, (tally = { proposal, base: vote.base, voters: new Set(), committed: false }));
    const electors = electorsOf(proposal, vote.base);
    if (electors.includes(ids[author]!)) tally.voters.add(ids[author]!);
    if (!tally.committed && hasQuorum(proposal, tally.base, tally.voters)) {
      tally.committed = true;
      let set = committedByEpoch.get(proposal.epoch);
      if (set === undefined) committedByEpoch.set(proposal.epoch, (set = new Set()));
      set.add(hash);
      if (process.env['SIM_DEBUG'] !== undefined && proposal.epoch === 1)
        console.error(
          JSON.stringify({
            at: Math.round(at),
            init: proposal.initMaster,
            members: proposal.members
              .map((m) => `${m.peerId}/${scenario.side[indexOf.get(m.peerId)!]}`)
              .join(' '),
            voters: [...tally.voters].join(' '),
          }),
        );
      initMasters.add(proposal.initMaster);
      if (latest === undefined || proposal.epoch > latest.epoch) latest = proposal;
      if (proposal.epoch === 1 && firstCommitAt === undefined) firstCommitAt = at;
    }
    // The electors of this epoch and of the next react to the vote when it reaches them.
    const wake = new Set<string>(electors);
    for (const peerId of proposal.committee) wake.add(peerId);
    for (const peerId of wake) {
      const j = indexOf.get(peerId)!;
      if (j !== author && scenario.crash[j]! > at) queue.push(scenario.arrival(author, j, at, id), j);
    }
    queue.push(at + 1, author);
  };

  /**
   * The input one node would build. A node that knows a decision and sits on neither its
   * committee nor (so) any electorate only reads the committed decision from the votes: its
   * presence view and the other nodes' first records cannot change what `evaluate` returns for
   * it, so they are left out to keep 10,000-node runs fast (`full` builds everything).
   */
  const inputOf = (i: number, time: number, full: boolean) => {
    const alive: Array<{ peerId: string; name: string }> = [];
    const unrecorded: Array<{ peerId: string; name: string; heardForMs: number }> = [];
    const records = new Map<string, VoteRecord>();
    // When this node first held a record of each author (its first record is not always the
    // first to arrive: a lost hello comes after the vote).
    const knownAt = new Map<string, number>();
    // Only nodes booted by now can be heard, alive or recorded (heardAt and helloAt come after
    // the boot): the loops walk them in boot order and stop at the first not booted yet, which
    // matters while most of a 10,000-node run has not booted.
    const booted = bootOrder.subarray(0, bootedBy(time));
    // When this node first heard each of them: computed once, for presence and for `unrecorded`.
    const heardAt = new Float64Array(full ? booted.length : 0);
    if (full) {
      for (let k = 0; k < booted.length; k++) {
        const j = booted[k]!;
        heardAt[k] = j === i ? Infinity : scenario.heardAt(i, j);
        if (scenario.alive(i, j, time, heardAt[k])) alive.push({ peerId: ids[j]!, name: ids[j]! });
      }
      for (const j of booted) {
        if (helloAt[j]! > time) continue;
        let at = scenario.arrival(j, i, helloAt[j]!, HELLO);
        if (at > time) at = pulls.heldAt(i, j, time);
        if (at > time) continue;
        records.set(ids[j]!, helloRecord[j]!);
        knownAt.set(ids[j]!, at);
      }
    } else {
      alive.push({ peerId: ids[i]!, name: ids[i]! });
      if (helloAt[i]! <= time) records.set(ids[i]!, helloRecord[i]!);
    }
    for (let id = 0; id < votes.length; id++) {
      const vote = votes[id]!;
      if (vote.at > time) continue;
      const at = scenario.arrival(vote.author, i, vote.at, id);
      if (at > time) continue;
      const author = ids[vote.author]!;
      records.set(author, vote.record);
      knownAt.set(author, Math.min(at, knownAt.get(author) ?? Infinity));
    }
    if (full)
      for (let k = 0; k < booted.length; k++) {
        const j = booted[k]!;
        const heard = heardAt[k]!;
        if (heard <= time && !records.has(ids[j]!) && heardDuringView(i, j, heard))
          unrecorded.push({ peerId: ids[j]!, name: ids[j]!, heardForMs: time - heard });
      }
    return { alive, records, knownAt, unrecorded };
  };

  const step = (i: number, time: number): void => {
    evaluations++;
    const elector = (decision: Decision | undefined): boolean =>
      decision === undefined || decision.proposal.committee.includes(ids[i]!);
    let full = elector(known[i]);
    let outcome: ReturnType<typeof evaluate>;
    let records: Map<string, VoteRecord>;
    for (;;) {
      const input = inputOf(i, time, full);
      records = input.records;
      if (full) {
        if (input.alive.length < params.minimumNodes) quorumSince[i] = undefined;
        else quorumSince[i] ??= time;
      }
      const since = quorumSince[i];
      const settled = since !== undefined && time - since >= params.settleMs;
      if (full && !settled && since !== undefined) queue.push(since + params.settleMs, i);
      outcome = evaluate({
        self: ids[i]!,
        selfName: ids[i]!,
        selfMode: 'auto',
        settings: {
          minimumNodes: params.minimumNodes,
          masterTarget: params.masters,
          masterGraceMs: params.masterGraceMs,
        },
        records,
        overrides: new Map(),
        alive: input.alive,
        unseenForMs: (peerId) => unseenFor(i, indexOf.get(peerId)!, time),
        recordKnownForMs: (peerId) => time - (input.knownAt.get(peerId) ?? time),
        coveredForMs: (peerId) => time - (pulls.coveredSince(i, indexOf.get(peerId)!, time) ?? -Infinity),
        heardForMs: (peerId) => time - scenario.heardAt(i, indexOf.get(peerId)!),
        syncWindowMs: params.syncWindowMs,
        now: time,
        unrecorded: input.unrecorded,
        settled,
        known: known[i],
      });
      if (outcome.recheckInMs !== undefined) queue.push(time + outcome.recheckInMs, i);
      // Like the service: pull from each peer not asked since the electors were known; the
      // answer wakes the node.
      for (const peerId of outcome.pull?.peers ?? []) {
        const key = i * n + indexOf.get(peerId)!;
        if (time - (pulledAt.get(key) ?? -Infinity) <= outcome.pull!.withinMs) continue;
        pulledAt.set(key, time);
        const answered = pulls.request(i, indexOf.get(peerId)!, time);
        if (answered !== undefined) queue.push(answered, i);
      }
      // The decision it just learnt makes it an elector: evaluate again with everything.
      if (full || !elector(outcome.committed)) break;
      full = true;
    }
    known[i] = outcome.committed;
    const decided = outcome.committed?.proposal;
    if (
      decided !== undefined &&
      assignedAt[i] === Infinity &&
      decided.members.some((m) => m.peerId === ids[i])
    )
      assignedAt[i] = time;
    let write = outcome.write;
    const previousEpoch = records.get(ids[i]!)?.epoch ?? 0;
    if (write !== undefined && write.epoch > previousEpoch && write.epoch >= 2 && outcome.adopted !== true) {
      const delay = initiationDelayMs(outcome.committed, ids[i]!, params.staggerMs);
      const current = initiation[i];
      const mine =
        current !== undefined && current.hash === write.hash ? current : { hash: write.hash!, since: time };
      initiation[i] = mine;
      if (time - mine.since < delay) {
        queue.push(mine.since + delay, i);
        write = undefined;
      }
    }
    if (write !== undefined) {
      initiation[i] = undefined;
      if (write.epoch === 0) {
        helloAt[i] = time;
        helloRecord[i] = write;
        // Presence tells the committee about a new node at once.
        for (const peerId of latest?.committee ?? []) {
          const j = indexOf.get(peerId)!;
          queue.push(scenario.arrival(i, j, time, HELLO), j);
        }
      } else if (write.epoch > previousEpoch) record(i, write, time);
    }
    // Nodes with their role and no vote to cast rest; votes wake the electors among them.
    const inCommittee = decided?.committee.includes(ids[i]!) ?? false;
    done[i] = decided !== undefined && assignedAt[i] !== Infinity && !inCommittee ? 1 : 0;
    if (done[i] === 0) {
      nextTick[i] = time + params.tickMs * (0.9 + (0.2 * ((i * 7919 + evaluations) % 97)) / 97);
      queue.push(nextTick[i], n + i);
    } else nextTick[i] = -1;
  };

  for (;;) {
    const event = queue.pop();
    if (event === undefined || event.time > params.horizonMs) break;
    const i = event.item % n;
    if (event.item >= n && event.time !== nextTick[i]) continue;
    if (!scenario.up(i, event.time)) continue;
    if (event.item < n && event.time < lastEval[i]! + COALESCE_MS) {
      const at = lastEval[i]! + COALESCE_MS;
      if (pendingWake[i] !== at) queue.push((pendingWake[i] = at), i);
      continue;
    }
    lastEval[i] = event.time;
    step(i, event.time);
  }

  let up = 0;
  let assigned = 0;
  const latencies: number[] = [];
  for (let i = 0; i < n; i++) {
    if (!scenario.up(i, params.horizonMs)) continue;
    up++;
    if (assignedAt[i] !== Infinity) {
      assigned++;
      latencies.push(assignedAt[i]! - Math.max(scenario.boot[i]!, scenario.quorumBootAt));
    }
  }
  latencies.sort((a, b) => a - b);
  let splitEpochs = 0;
  let firstSplitEpoch: number | undefined;
  for (const [epoch, hashes] of committedByEpoch)
    if (hashes.size > 1) {
      splitEpochs++;
      firstSplitEpoch = Math.min(firstSplitEpoch ?? epoch, epoch);
    }
  return {
    committed: firstCommitAt !== undefined,
    commitLatencyMs: firstCommitAt === undefined ? undefined : firstCommitAt - scenario.quorumBootAt,
    splitEpochs,
    firstSplitEpoch,
    initMasters: initMasters.size,
    maxEpoch: Math.max(0, ...committedByEpoch.keys()),
    votes: votes.length,
    evaluations,
    assigned,
    up,
    roleLatencyP50Ms: latencies[Math.floor(latencies.length * 0.5)],
    roleLatencyP99Ms: latencies[Math.floor(latencies.length * 0.99)],
  };
}
