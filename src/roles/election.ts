import { compareByRank, proposalHash } from './hash.ts';
import { bootstrapProposal, nextProposal, type Candidate } from './planner.ts';
import type { Decision, Proposal, RoleMode, VoteRecord } from './types.ts';

/**
 * The election, pure: from what one node sees (vote records in the ledger, overrides, who is
 * alive) it derives the committed decision and the one vote this node should cast, if any.
 *
 * Safety rests on three rules: a node writes a higher epoch each time it votes (one vote per
 * epoch, kept in the ledger so a restart cannot vote again); a decision for epoch e > 1 commits
 * only with a majority of the committee fixed by the decision it replaces (every vote names that
 * base), so two majorities always share a voter; an epoch is abandoned only when its own votes
 * prove that no proposal can reach a majority any more. Epoch 1 has no earlier decision: its
 * quorum is a majority of the proposal's own members (at least a majority of `minimumNodes`)
 * including the init master it names. Its members are the founders — the mature nodes (alive
 * for `matureMs`) once there are `minimumNodes` of them, else every alive node — and its init
 * master is the best-ranked founder by peer id: both from presence alone, see
 * `bootstrapProposal`. The init master proposes; the others vote for a bootstrap proposal they
 * are members of. Nobody votes in epoch 1 while the nodes it knows from the ledger that are
 * neither alive nor lost (unseen for less than the master grace) are at least half as many as
 * the alive ones: they may be the other side of a cut, voting there. That is exact when the
 * nodes that bootstrap are `minimumNodes` (Consul's bootstrap_expect); with more, see
 * simulations/election.
 */

export interface ElectionSettings {
  minimumNodes: number;
  /** Total masters wanted (only used by the bootstrap proposal; later epochs keep its value). */
  masterTarget: number;
  masterGraceMs: number;
}

export interface ElectionInput {
  self: string;
  selfName: string;
  /** This node's configured mode (published in its record). */
  selfMode: RoleMode;
  settings: ElectionSettings;
  /** Validated `votes/*` records by author, this node's own included when it has one. */
  records: ReadonlyMap<string, VoteRecord>;
  /** `roles-override/*` by peer id (an `auto` override means none). */
  overrides: ReadonlyMap<string, RoleMode>;
  /** The presence view, self included. */
  alive: ReadonlyArray<{ peerId: string; name: string }>;
  /**
   * How long a node that is not alive has been unseen (ms); past `masterGraceMs` it is lost.
   * Before the bootstrap, a node with a record that is neither alive nor lost blocks the vote.
   */
  unseenForMs: (peerId: string) => number;
  /** How long an alive node has been alive in this view (ms; for self, since it started). */
  aliveForMs: (peerId: string) => number;
  /**
   * A node alive this long (ms) is mature: a bootstrap proposal is made of mature nodes once
   * there are `minimumNodes` of them, so nodes that boot (or appear across a cut) meanwhile
   * never swell its quorum. About the presence TTL: stale presence cannot outlast it.
   */
  matureMs: number;
  /** Enough nodes have been alive for the settle time (only gates the epoch-1 vote). */
  settled: boolean;
  /** The highest decision this node already saw committed (monotonic across calls). */
  known?: Decision | undefined;
}

export type ElectionPhase =
  | 'waiting-for-nodes'
  | 'settling'
  | 'voting'
  | 'committed'
  | 'joining'
  | 'not-participating'
  | 'no-master-candidate';

export interface ElectionStatus {
  phase: ElectionPhase;
  /** What the node waits for, in words: "2 of 3 nodes alive". */
  message: string;
  epoch?: number;
  votes?: number;
  quorum?: number;
}

export interface ElectionOutcome {
  committed?: Decision | undefined;
  /** The record this node should write to `votes/<self>` now (a vote, or its first record). */
  write?: VoteRecord;
  /** True when `write` is a vote for a proposal another node already voted for. */
  adopted?: boolean;
  status: ElectionStatus;
}

export function majority(size: number): number {
  return Math.floor(size / 2) + 1;
}

/** Votes a proposal needs: a majority of the base committee, or at bootstrap of its members. */
export function quorumOf(proposal: Proposal, base: Decision | undefined): number {
  if (proposal.baseHash === null)
    return Math.max(majority(proposal.minimumNodes), majority(proposal.members.length));
  return majority(base?.proposal.committee.length ?? 0);
}

interface Tally {
  proposal: Proposal;
  hash: string;
  base: Decision | undefined;
  voters: Set<string>;
}

/** Groups the votes by proposal hash; only votes from the right electorate count. */
function tallies(records: ReadonlyMap<string, VoteRecord>): Map<string, Tally> {
  const result = new Map<string, Tally>();
  for (const [author, record] of records) {
    if (record.epoch < 1 || record.hash === undefined || record.proposal === undefined) continue;
    let tally = result.get(record.hash);
    if (tally === undefined) {
      tally = { proposal: record.proposal, hash: record.hash, base: record.base, voters: new Set() };
      result.set(record.hash, tally);
    }
    if (tally.base === undefined && record.base !== undefined) tally.base = record.base;
    if (isElector(author, tally)) tally.voters.add(author);
  }
  return result;
}

function isElector(peerId: string, tally: Tally): boolean {
  if (tally.proposal.baseHash === null)
    return tally.proposal.members.some((member) => member.peerId === peerId);
  return tally.base?.proposal.committee.includes(peerId) ?? false;
}

function isCommitted(tally: Tally): boolean {
  if (tally.proposal.baseHash !== null && tally.base?.hash !== tally.proposal.baseHash) return false;
  return hasQuorum(tally.proposal, tally.base, tally.voters);
}

/**
 * Whether these electors' votes commit the proposal. A bootstrap proposal also needs the vote of
 * the init master it names: that node votes once, so no two bootstrap decisions naming the same
 * init master can commit, even when the nodes' views (and so the member lists) differ.
 */
export function hasQuorum(
  proposal: Proposal,
  base: Decision | undefined,
  voters: ReadonlySet<string>,
): boolean {
  if (proposal.baseHash === null && !voters.has(proposal.initMaster)) return false;
  return voters.size >= quorumOf(proposal, base);
}

/** Higher epoch wins; equal epochs (which the rules above prevent) resolve by hash, everywhere alike. */
function newer(a: Decision | undefined, b: Decision | undefined): Decision | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  if (a.proposal.epoch !== b.proposal.epoch) return a.proposal.epoch > b.proposal.epoch ? a : b;
  return a.hash <= b.hash ? a : b;
}

/**
 * The newest committed decision visible: one a majority voted for, or the base of any vote
 * (an honest node only builds on a committed decision, and later votes overwrite earlier ones).
 */
export function latestCommitted(
  records: ReadonlyMap<string, VoteRecord>,
  known?: Decision,
  votes: Map<string, Tally> = tallies(records),
): Decision | undefined {
  let best = known;
  for (const record of records.values()) if (record.base !== undefined) best = newer(best, record.base);
  for (const tally of votes.values())
    if (isCommitted(tally)) best = newer(best, { hash: tally.hash, proposal: tally.proposal });
  return best;
}

function effectiveMode(input: ElectionInput, peerId: string, ownMode: RoleMode): RoleMode {
  const override = input.overrides.get(peerId);
  return override === undefined || override === 'auto' ? ownMode : override;
}

function viewOf(input: ElectionInput): { alive: Candidate[]; modes: Map<string, RoleMode> } {
  const modes = new Map<string, RoleMode>();
  for (const [peerId, record] of input.records) modes.set(peerId, effectiveMode(input, peerId, record.mode));
  modes.set(input.self, effectiveMode(input, input.self, input.selfMode));
  const alive: Candidate[] = [];
  for (const node of input.alive) {
    const mode = modes.get(node.peerId);
    if (mode !== undefined) alive.push({ peerId: node.peerId, name: node.name, mode });
  }
  return { alive, modes };
}

/** Nodes with a record (and a role) that are neither alive now nor lost: perhaps cut off. */
function absentNodes(input: ElectionInput, modes: ReadonlyMap<string, RoleMode>): string[] {
  const aliveIds = new Set(input.alive.map((node) => node.peerId));
  const absent: string[] = [];
  for (const peerId of input.records.keys())
    if (
      !aliveIds.has(peerId) &&
      modes.get(peerId) !== 'none' &&
      input.unseenForMs(peerId) <= input.settings.masterGraceMs
    )
      absent.push(peerId);
  return absent;
}

function record(
  input: ElectionInput,
  vote?: { proposal: Proposal; hash: string; base?: Decision },
): VoteRecord {
  const previous = input.records.get(input.self);
  const epoch = vote?.proposal.epoch ?? previous?.epoch ?? 0;
  const kept = vote ?? (previous !== undefined && previous.epoch > 0 ? previous : undefined);
  return {
    v: 1,
    name: input.selfName,
    mode: input.selfMode,
    epoch,
    ...(kept?.hash === undefined ? {} : { hash: kept.hash }),
    ...(kept?.proposal === undefined ? {} : { proposal: kept.proposal }),
    ...(kept?.base === undefined ? {} : { base: kept.base }),
  };
}

/** Picks the proposal with the most votes, then the lowest hash. */
function best(candidates: Iterable<{ hash: string; proposal: Proposal; votes: number }>) {
  let chosen: { hash: string; proposal: Proposal; votes: number } | undefined;
  for (const candidate of candidates)
    if (
      chosen === undefined ||
      candidate.votes > chosen.votes ||
      (candidate.votes === chosen.votes && candidate.hash < chosen.hash)
    )
      chosen = candidate;
  return chosen;
}

export function evaluate(input: ElectionInput): ElectionOutcome {
  const own = input.records.get(input.self);
  // The first record (or a changed mode or name) is written before anything else: peers only
  // count a node whose mode they can see.
  const needsRecord = own === undefined || own.mode !== input.selfMode || own.name !== input.selfName;
  const votes = tallies(input.records);
  const committed = latestCommitted(input.records, input.known, votes);
  const outcome = committed === undefined ? bootstrap(input, votes) : change(input, committed, votes);
  if (outcome.write === undefined && needsRecord) outcome.write = record(input);
  return { ...outcome, committed };
}

function bootstrap(input: ElectionInput, votes: Map<string, Tally>): ElectionOutcome {
  const { minimumNodes, masterTarget } = input.settings;
  const view = viewOf(input);
  const eligible = view.alive.filter((node) => node.mode !== 'none');
  const selfMode = view.modes.get(input.self) ?? input.selfMode;
  const own = input.records.get(input.self);
  const waiting = `${eligible.length} of ${minimumNodes} nodes alive`;
  if (selfMode === 'none')
    return { status: { phase: 'not-participating', message: `role none; ${waiting}` } };
  if (own !== undefined && own.epoch >= 1) {
    const mine = own.hash === undefined ? undefined : votes.get(own.hash);
    const quorum = mine === undefined ? 0 : quorumOf(mine.proposal, undefined);
    const count = mine?.voters.size ?? 0;
    return {
      status: {
        phase: 'voting',
        message: `epoch 1: ${count} of ${quorum} votes for the proposal this node voted for`,
        epoch: 1,
        votes: count,
        quorum,
      },
    };
  }
  if (eligible.length < minimumNodes) return { status: { phase: 'waiting-for-nodes', message: waiting } };
  if (own === undefined) return { status: { phase: 'settling', message: 'publishing this node first' } };
  if (!input.settled)
    return {
      status: {
        phase: 'settling',
        message: `${eligible.length} nodes alive; settling before the bootstrap vote`,
      },
    };
  // Two sides of a cut that know each other cannot both see fewer absent nodes than half the
  // alive ones, so at most one side votes; a few crashed nodes do not stop a large network.
  const absent = absentNodes(input, view.modes);
  if (2 * absent.length >= eligible.length) {
    const name = input.records.get(absent[0]!)?.name ?? absent[0]!;
    return {
      status: {
        phase: 'settling',
        message: `${eligible.length} nodes alive; waiting for ${absent.length} known node(s) that are not alive (${name}: cut off, or lost after ${input.settings.masterGraceMs} ms)`,
      },
    };
  }
  const alive = input.alive.map((node) => ({
    ...node,
    mode: view.modes.get(node.peerId),
    aliveForMs: input.aliveForMs(node.peerId),
  }));
  const plan = bootstrapProposal(alive, { minimumNodes, masterTarget, matureMs: input.matureMs });
  if (!plan.ok) {
    if (plan.reason === 'unknown-mode') {
      const name = input.alive.find((node) => node.peerId === plan.waitingFor)?.name ?? plan.waitingFor;
      return {
        status: {
          phase: 'settling',
          message: `${eligible.length} nodes alive; waiting for the record of ${name}, which may be the init master`,
        },
      };
    }
    return {
      status: {
        phase: plan.reason === 'no-master-candidate' ? 'no-master-candidate' : 'waiting-for-nodes',
        message:
          plan.reason === 'no-master-candidate'
            ? `${plan.eligible} nodes alive but none may be a master (all are static workers)`
            : waiting,
      },
    };
  }
  // A bootstrap proposal already voted for, and not provably dead, may commit: a node in it
  // votes for it (the best-ranked init master first), a node outside it waits for it.
  let chosen: { hash: string; proposal: Proposal; votes: number } | undefined;
  let pending: Tally | undefined;
  for (const tally of votes.values()) {
    if (tally.proposal.baseHash !== null || bootstrapIsDead(input.records, tally)) continue;
    pending ??= tally;
    if (!tally.proposal.members.some((member) => member.peerId === input.self)) continue;
    const candidate = { hash: tally.hash, proposal: tally.proposal, votes: tally.voters.size };
    const order =
      chosen === undefined ? -1 : compareByRank(candidate.proposal.initMaster, chosen.proposal.initMaster);
    if (
      chosen === undefined ||
      order < 0 ||
      (order === 0 &&
        (candidate.votes > chosen.votes ||
          (candidate.votes === chosen.votes && candidate.hash < chosen.hash)))
    )
      chosen = candidate;
  }
  if (chosen === undefined && pending !== undefined) {
    const initName = pending.proposal.members.find((m) => m.peerId === pending.proposal.initMaster)?.name;
    return {
      status: {
        phase: 'voting',
        message: `${eligible.length} nodes alive; waiting for the bootstrap proposal of ${initName ?? pending.proposal.initMaster}`,
      },
    };
  }
  // Otherwise the init master of this view proposes and the others wait for its vote.
  const init = plan.proposal.initMaster;
  if (chosen === undefined && init === input.self) {
    const hash = proposalHash(plan.proposal);
    chosen = { hash, proposal: plan.proposal, votes: 0 };
  }
  if (chosen === undefined) {
    const initName = view.alive.find((node) => node.peerId === init)?.name ?? init;
    return {
      status: {
        phase: 'voting',
        message: `${eligible.length} nodes alive; waiting for the init master ${initName} to propose`,
      },
    };
  }
  const quorum = quorumOf(chosen.proposal, undefined);
  return {
    write: record(input, { proposal: chosen.proposal, hash: chosen.hash }),
    adopted: chosen.votes > 0,
    status: {
      phase: 'voting',
      message: `epoch 1: ${chosen.votes + 1} of ${quorum} votes`,
      epoch: 1,
      votes: chosen.votes + 1,
      quorum,
    },
  };
}

/**
 * True when a bootstrap proposal can never commit: its init master voted for something else, or
 * its members who have not voted could not bring it to its quorum.
 */
export function bootstrapIsDead(records: ReadonlyMap<string, VoteRecord>, tally: Tally): boolean {
  const init = records.get(tally.proposal.initMaster);
  if (init !== undefined && init.epoch >= 1 && init.hash !== tally.hash) return true;
  let undecided = 0;
  for (const member of tally.proposal.members) {
    const record = records.get(member.peerId);
    if (record === undefined || record.epoch < 1) undecided++;
  }
  return tally.voters.size + undecided < quorumOf(tally.proposal, undefined);
}

/** True when epoch `epoch` on `base` can never commit: its own votes prove it, or a voter moved on. */
export function epochIsDead(
  records: ReadonlyMap<string, VoteRecord>,
  base: Decision,
  epoch: number,
  votes: Map<string, Tally>,
): boolean {
  const committee = base.proposal.committee;
  let undecided = 0;
  for (const peerId of committee) {
    const record = records.get(peerId);
    if (record === undefined || record.epoch < epoch) undecided++;
    else if (record.epoch > epoch && record.base?.hash === base.hash) return true;
  }
  let most = 0;
  for (const tally of votes.values())
    if (tally.proposal.epoch === epoch && tally.proposal.baseHash === base.hash)
      most = Math.max(most, tally.voters.size);
  return most + undecided < majority(committee.length);
}

function change(input: ElectionInput, committed: Decision, votes: Map<string, Tally>): ElectionOutcome {
  const decided = committed.proposal;
  const me = decided.members.find((member) => member.peerId === input.self);
  const view = viewOf(input);
  const selfMode = view.modes.get(input.self) ?? input.selfMode;
  const stable: ElectionStatus =
    me === undefined
      ? selfMode === 'none'
        ? { phase: 'not-participating', message: `role none (epoch ${decided.epoch})`, epoch: decided.epoch }
        : {
            phase: 'joining',
            message: `waiting to be added after epoch ${decided.epoch}`,
            epoch: decided.epoch,
          }
      : { phase: 'committed', message: `epoch ${decided.epoch}: ${me.role}`, epoch: decided.epoch };
  if (!decided.committee.includes(input.self)) return { status: stable };

  let epoch = decided.epoch + 1;
  while (epochIsDead(input.records, committed, epoch, votes)) epoch++;
  const quorum = majority(decided.committee.length);
  const own = input.records.get(input.self);
  const pending = [...votes.values()].filter(
    (tally) => tally.proposal.epoch === epoch && tally.proposal.baseHash === committed.hash,
  );
  if (own !== undefined && own.epoch >= epoch) {
    const mine = pending.find((tally) => tally.hash === own.hash);
    const count = mine?.voters.size ?? 0;
    return {
      status: {
        ...stable,
        message: `${stable.message}; epoch ${epoch}: ${count} of ${quorum} votes`,
        votes: count,
        quorum,
      },
    };
  }
  const planned = nextProposal(
    committed,
    {
      alive: view.alive,
      modes: view.modes,
      unseenForMs: input.unseenForMs,
      masterGraceMs: input.settings.masterGraceMs,
    },
    epoch,
  );
  const candidates = pending.map((tally) => ({
    hash: tally.hash,
    proposal: tally.proposal,
    votes: tally.voters.size,
  }));
  if (candidates.length === 0 && planned !== undefined)
    candidates.push({ hash: proposalHash(planned), proposal: planned, votes: 0 });
  const chosen = best(candidates);
  if (chosen === undefined) return { status: stable };
  return {
    write: record(input, { proposal: chosen.proposal, hash: chosen.hash, base: committed }),
    adopted: chosen.votes > 0,
    status: {
      ...stable,
      message: `${stable.message}; epoch ${epoch}: ${chosen.votes + 1} of ${quorum} votes`,
      votes: chosen.votes + 1,
      quorum,
    },
  };
}

/**
 * How long a committee member waits before putting forward a change of its own (rather than
 * adopting one already voted for): its place in the committee times `staggerMs`, so usually
 * one member proposes and the others adopt, instead of splitting the epoch's votes.
 */
export function initiationDelayMs(committed: Decision | undefined, self: string, staggerMs: number): number {
  if (committed === undefined) return 0;
  const index = committed.proposal.committee.indexOf(self);
  return index <= 0 ? 0 : index * staggerMs;
}
