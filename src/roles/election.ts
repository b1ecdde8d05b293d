import { proposalHash } from './hash.ts';
import {
  bootstrapElectors,
  bootstrapInitMaster,
  bootstrapProposal,
  nextProposal,
  type Candidate,
  type KnownNode,
} from './planner.ts';
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
 * electorate is the first `minimumNodes` nodes by first-publish time (`VoteRecord.since`), named
 * in the proposal, and it commits with a majority of them including the init master it names.
 * The init master of that electorate proposes only once no record published before the
 * electors' can still be on its way to it: every elector's record has been visible to it for
 * `syncWindowMs`, or every peer it heard alive by the time it held them all has been covered
 * by a ledger pull started since. Then every proposal names one electorate, and two majorities
 * of one electorate share a voter — across cuts, late boots and crashes alike. The other
 * electors vote for it as soon as their own records name the same init master (no wait of
 * their own). What each wait assumes, and what no protocol can join (two networks booting
 * wholly apart), is described in bench/README.md.
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
   * How long a node that is not alive has been unseen (ms); past `masterGraceMs` it is lost
   * (and no longer a bootstrap elector).
   */
  unseenForMs: (peerId: string) => number;
  /** How long this node has held a record of `peerId` (ms). */
  recordKnownForMs: (peerId: string) => number;
  /**
   * The time within which a ledger record reaches every node (gossip, a lost message repaired
   * by anti-entropy, a fresh node's first sync): the init master's bootstrap proposal waits
   * until every elector's record has been visible this long (or until its peers are covered,
   * see `coveredForMs`), so no record published before theirs can still arrive.
   */
  syncWindowMs: number;
  /** This node's clock (ms): its first record's `since`. */
  now: number;
  /**
   * Nodes this node has heard alive (now or before) whose record it does not hold, with how
   * long ago it first heard them (ms). One heard before the last elector's record arrived may
   * have published before it: the bootstrap vote waits for its record (or its loss).
   */
  unrecorded: ReadonlyArray<{ peerId: string; name: string; heardForMs: number }>;
  /**
   * How long ago this node last held every ledger entry `peerId` held (the start of a pull from
   * it that covered its version vector); Infinity, or absent, when never. An init master whose
   * every alive peer was covered after it held all the electors' records proposes without
   * waiting out the window.
   */
  coveredForMs?: (peerId: string) => number;
  /** How long ago this node first heard `peerId` alive (absent: counts every alive peer as old). */
  heardForMs?: (peerId: string) => number;
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
  /** Evaluate again after this long (ms): a wait on time alone, which no ledger change ends. */
  recheckInMs?: number;
  /**
   * Pull from these peers (ledger anti-entropy) unless this node asked for a pull from them in
   * the last `withinMs`: alive peers whose record it lacks (`anyHolder`: the record may come from
   * any member that holds it), or, for the init master, peers whose ledger it must cover before
   * it proposes (from each peer itself).
   */
  pull?: { peers: string[]; withinMs: number; anyHolder: boolean };
  status: ElectionStatus;
}

/** How often the bootstrap asks again for the record of an alive node it still lacks (ms). */
const RECORD_PULL_RETRY_MS = 1000;
/** Missing records asked for at once (the next ones once these arrive). */
const RECORD_PULLS_AT_ONCE = 8;

export function majority(size: number): number {
  return Math.floor(size / 2) + 1;
}

/**
 * Who may vote for a proposal: the committee of the decision it replaces, or at bootstrap its
 * electors (its members in proposals written before electors existed).
 */
export function electorsOf(proposal: Proposal, base: Decision | undefined): readonly string[] {
  if (proposal.baseHash === null) return proposal.electors ?? proposal.members.map((member) => member.peerId);
  return base?.proposal.committee ?? [];
}

/** Votes a proposal needs: a majority of its electors (at bootstrap, at least of `minimumNodes`). */
export function quorumOf(proposal: Proposal, base: Decision | undefined): number {
  const electors = electorsOf(proposal, base).length;
  return proposal.baseHash === null
    ? Math.max(majority(proposal.minimumNodes), majority(electors))
    : majority(electors);
}

interface Tally {
  proposal: Proposal;
  hash: string;
  base: Decision | undefined;
  voters: Set<string>;
}

/**
 * Groups the votes by proposal hash; only votes from the right electorate count. A vote that
 * names its bootstrap proposal by hash alone (see `VoteRecord.proposal`) counts once some
 * record carries that proposal.
 */
function tallies(records: ReadonlyMap<string, VoteRecord>): Map<string, Tally> {
  const carried = new Map<string, Proposal>();
  for (const record of records.values()) {
    if (record.hash !== undefined && record.proposal !== undefined) carried.set(record.hash, record.proposal);
    if (record.base !== undefined) carried.set(record.base.hash, record.base.proposal);
  }
  const result = new Map<string, Tally>();
  for (const [author, record] of records) {
    if (record.epoch < 1 || record.hash === undefined) continue;
    const proposal = record.proposal ?? bootstrapByHash(carried, record);
    if (proposal === undefined) continue;
    let tally = result.get(record.hash);
    if (tally === undefined) {
      tally = { proposal, hash: record.hash, base: record.base, voters: new Set() };
      result.set(record.hash, tally);
    }
    if (tally.base === undefined && record.base !== undefined) tally.base = record.base;
    if (isElector(author, tally)) tally.voters.add(author);
  }
  return result;
}

/** The bootstrap proposal a vote without one names by its hash, if some record carries it. */
function bootstrapByHash(carried: ReadonlyMap<string, Proposal>, vote: VoteRecord): Proposal | undefined {
  const proposal = vote.hash === undefined ? undefined : carried.get(vote.hash);
  return proposal?.baseHash === null && proposal.epoch === vote.epoch ? proposal : undefined;
}

function isElector(peerId: string, tally: Tally): boolean {
  return electorsOf(tally.proposal, tally.base).includes(peerId);
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

/**
 * This node's record: its first, or with a vote. A vote carries its proposal, except an
 * adopted bootstrap vote (`proposal` absent), which names it by hash.
 */
function record(
  input: ElectionInput,
  vote?: { epoch: number; hash: string; proposal?: Proposal; base?: Decision },
): VoteRecord {
  const previous = input.records.get(input.self);
  const epoch = vote?.epoch ?? previous?.epoch ?? 0;
  const kept = vote ?? (previous !== undefined && previous.epoch > 0 ? previous : undefined);
  return {
    v: 1,
    name: input.selfName,
    mode: input.selfMode,
    since: previous?.since ?? firstSince(input),
    epoch,
    ...(kept?.hash === undefined ? {} : { hash: kept.hash }),
    ...(kept?.proposal === undefined ? {} : { proposal: kept.proposal }),
    ...(kept?.base === undefined ? {} : { base: kept.base }),
  };
}

/**
 * A first record's `since`: now, or just after the latest `since` this node knows when its
 * clock is behind, so a node that synced before publishing never counts as older than the
 * nodes it already knew (clock skew cannot put it into an electorate retroactively).
 */
function firstSince(input: ElectionInput): number {
  let latest = -Infinity;
  for (const record of input.records.values())
    if (record.since !== undefined && record.since > latest) latest = record.since;
  return Math.max(input.now, latest + 1);
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
  const needsRecord =
    own === undefined ||
    own.mode !== input.selfMode ||
    own.name !== input.selfName ||
    own.since === undefined;
  const votes = tallies(input.records);
  const committed = latestCommitted(input.records, input.known, votes);
  const outcome = committed === undefined ? bootstrap(input, votes) : change(input, committed, votes);
  if (outcome.write === undefined && needsRecord) outcome.write = record(input);
  return { ...outcome, committed };
}

/** Nodes with a visible record, a role and a `since`, not lost: bootstrap elector candidates. */
function knownNodes(input: ElectionInput, modes: ReadonlyMap<string, RoleMode>): KnownNode[] {
  const aliveIds = new Set(input.alive.map((node) => node.peerId));
  const known: KnownNode[] = [];
  for (const [peerId, record] of input.records) {
    const mode = modes.get(peerId);
    if (mode === undefined || mode === 'none' || record.since === undefined) continue;
    if (!aliveIds.has(peerId) && input.unseenForMs(peerId) > input.settings.masterGraceMs) continue;
    known.push({ peerId, name: record.name, mode, since: record.since });
  }
  return known;
}

function voting(message: string, votes?: number, quorum?: number): ElectionOutcome {
  return {
    status: { phase: 'voting', message, epoch: 1, ...(votes === undefined ? {} : { votes, quorum }) },
  };
}

function bootstrap(input: ElectionInput, votes: Map<string, Tally>): ElectionOutcome {
  const { minimumNodes, masterTarget } = input.settings;
  const view = viewOf(input);
  const eligible = view.alive.filter((node) => node.mode !== 'none');
  const selfMode = view.modes.get(input.self) ?? input.selfMode;
  const own = input.records.get(input.self);
  const waiting = `${eligible.length} of ${minimumNodes} nodes alive`;
  const settling = (message: string): ElectionOutcome => ({
    status: { phase: 'settling', message: `${eligible.length} nodes alive; ${message}` },
  });
  if (selfMode === 'none')
    return { status: { phase: 'not-participating', message: `role none; ${waiting}` } };
  if (own !== undefined && own.epoch >= 1) {
    const mine = own.hash === undefined ? undefined : votes.get(own.hash);
    const quorum = mine === undefined ? 0 : quorumOf(mine.proposal, undefined);
    const count = mine?.voters.size ?? 0;
    return voting(`epoch 1: ${count} of ${quorum} votes for the proposal this node voted for`, count, quorum);
  }
  if (own === undefined) {
    if (eligible.length < minimumNodes) return { status: { phase: 'waiting-for-nodes', message: waiting } };
    return { status: { phase: 'settling', message: 'publishing this node first' } };
  }
  const electors = bootstrapElectors(knownNodes(input, view.modes), minimumNodes);
  const complete = electors.length >= minimumNodes;
  /** How long this node has held every elector's record. */
  const electorsKnownForMs = Math.min(...electors.map((node) => input.recordKnownForMs(node.peerId)));
  const unknown = complete ? unrecordedBefore(input, electorsKnownForMs) : undefined;
  const init = complete ? bootstrapInitMaster(electors, eligible, masterTarget) : undefined;
  const initVote = init === undefined ? undefined : input.records.get(init);
  // An elector adopts the init master's proposal as soon as it names the init master and an
  // electorate this node is in (see `adoptable`), without the sync window of its own.
  const adopted = unknown === undefined ? adoptable(input, init, initVote) : undefined;
  if (adopted !== undefined) {
    const count = (votes.get(adopted.hash)?.voters.size ?? 0) + 1;
    const quorum = quorumOf(adopted.proposal, undefined);
    return {
      // By hash alone: the init master's vote, which the commit needs anyway, carries the
      // proposal, and 25 electors' copies of a 25-member proposal made the vote round ~3 MB.
      write: record(input, { epoch: adopted.proposal.epoch, hash: adopted.hash }),
      adopted: true,
      ...voting(`epoch 1: ${count} of ${quorum} votes`, count, quorum),
    };
  }
  // Records of alive nodes still missing: pulled from their authors, not left to the ledger's
  // catch-up queue (a record published after a peer was admitted, whose gossip missed this
  // node, would otherwise wait for a later pull).
  const proposer = proposerToPull(input, votes);
  const missing = [
    ...(proposer === undefined ? [] : [proposer]),
    ...input.alive
      .filter(
        (node) => node.peerId !== input.self && node.peerId !== proposer && !input.records.has(node.peerId),
      )
      .map((node) => node.peerId),
  ].slice(0, RECORD_PULLS_AT_ONCE);
  const pull =
    missing.length === 0 ? {} : { pull: { peers: missing, withinMs: RECORD_PULL_RETRY_MS, anyHolder: true } };
  if (eligible.length < minimumNodes)
    return { status: { phase: 'waiting-for-nodes', message: waiting }, ...pull };
  if (!input.settled) {
    // The init master's coverage pull needs no settled view: it only gathers, and the check
    // before its proposal counts only pulls started once the final electors were all known.
    // Started now, it runs while the view settles instead of after.
    const early =
      missing.length === 0 && complete && unknown === undefined && init === input.self
        ? coveragePull(input, electorsKnownForMs)
        : undefined;
    return {
      ...settling('settling before the bootstrap vote'),
      ...(early === undefined ? pull : { pull: early }),
    };
  }
  if (!complete)
    return {
      ...settling(`${electors.length} of ${minimumNodes} electors known (records of eligible nodes)`),
      ...pull,
    };
  if (unknown !== undefined)
    return {
      ...settling(`waiting for the record of ${unknown.name}, heard before the electors were known`),
      ...pull,
    };
  if (init === undefined)
    return {
      status: {
        phase: 'no-master-candidate',
        message: `${eligible.length} nodes alive but none may be a master (all are static workers)`,
      },
    };
  const initName = input.records.get(init)?.name ?? init;
  if (initVote !== undefined && initVote.epoch >= 1)
    return voting(
      initVote.proposal?.baseHash === null && initVote.proposal.initMaster === init
        ? `${eligible.length} nodes alive; not an elector of the bootstrap of ${initName}`
        : `${eligible.length} nodes alive; the init master ${initName} voted for another bootstrap`,
    );
  if (init !== input.self)
    return voting(
      electors.some((node) => node.peerId === input.self)
        ? `${eligible.length} nodes alive; waiting for the init master ${initName} to propose`
        : `${eligible.length} nodes alive; not an elector, waiting for the bootstrap decision`,
    );
  // The init master proposes once no record published before the electors' can still be on
  // its way: every elector's record has been held for the sync window, or the ledger of every
  // peer it heard alive by the time it held them all has been covered since (see
  // bench/README.md for what each assumes).
  const coverage = coveragePull(input, electorsKnownForMs);
  if (electorsKnownForMs < input.syncWindowMs && coverage !== undefined)
    return {
      ...settling(
        `electors ${electors.map((node) => node.name).join(', ')}: ${coverage.peers.length} alive peers not synced since their records, ${input.syncWindowMs - electorsKnownForMs} ms of the sync window left`,
      ),
      recheckInMs: input.syncWindowMs - electorsKnownForMs,
      pull: coverage,
    };
  const proposal = bootstrapProposal(eligible, electors, init, { minimumNodes, masterTarget });
  const hash = proposalHash(proposal);
  const count = (votes.get(hash)?.voters.size ?? 0) + 1;
  const quorum = quorumOf(proposal, undefined);
  return {
    write: record(input, { epoch: proposal.epoch, proposal, hash }),
    adopted: count > 1,
    ...voting(`epoch 1: ${count} of ${quorum} votes`, count, quorum),
  };
}

/**
 * The init master's pull from every alive peer it heard before it held all the electors'
 * records and has not covered since (undefined: none left): after it, no record published
 * before theirs can still be on its way.
 */
function coveragePull(input: ElectionInput, electorsKnownForMs: number): ElectionOutcome['pull'] {
  const uncovered = input.alive
    .filter(
      (node) =>
        node.peerId !== input.self &&
        (input.heardForMs?.(node.peerId) ?? Infinity) >= electorsKnownForMs &&
        !((input.coveredForMs?.(node.peerId) ?? Infinity) <= electorsKnownForMs),
    )
    .map((node) => node.peerId);
  return uncovered.length === 0
    ? undefined
    : { peers: uncovered, withinMs: electorsKnownForMs, anyHolder: false };
}

/**
 * An init master whose bootstrap proposal names this node an elector while this node still
 * lacks records of some of its electors: it holds them all, so one pull from it brings what
 * this node needs to check the proposal and adopt it.
 */
function proposerToPull(input: ElectionInput, votes: Map<string, Tally>): string | undefined {
  for (const tally of votes.values()) {
    const { proposal } = tally;
    if (proposal.baseHash !== null || input.records.get(proposal.initMaster)?.hash !== tally.hash) continue;
    const electors = electorsOf(proposal, undefined);
    if (electors.includes(input.self) && electors.some((peerId) => !input.records.has(peerId)))
      return proposal.initMaster;
  }
  return undefined;
}

/**
 * A node heard alive (and not lost) before this node held every elector's record, whose own
 * record it still lacks: that record may precede theirs. A record hidden longer than the window
 * (a cut that began while it spread) is still announced by its author's presence, heard before
 * the cut.
 */
function unrecordedBefore(
  input: ElectionInput,
  electorsKnownForMs: number,
): ElectionInput['unrecorded'][number] | undefined {
  const aliveIds = new Set(input.alive.map((node) => node.peerId));
  return input.unrecorded.find(
    (node) =>
      node.heardForMs >= electorsKnownForMs &&
      (aliveIds.has(node.peerId) || input.unseenForMs(node.peerId) <= input.settings.masterGraceMs),
  );
}

/**
 * The proposal an elector votes for: what the init master of its own electorate voted for, if
 * that names this node an elector. The init master votes once, so every vote naming it goes to
 * one proposal, and two decisions would need two nodes each taken for the init master by a
 * majority: two electorates, which the init master's sync window rules out. The elector needs
 * its own electorate (its records), not a window of its own: a window at each elector made
 * the commit wait for the slowest majority's catch-up plus the window; checking the init
 * master against the elector's own records still refuses a proposal from an init master that
 * a hidden record fooled, whenever the elector holds that record. Matching on the init master
 * rather than on the whole electorate also lets an init master that proposed before a late
 * record changed the rest of the electorate still collect its votes.
 */
function adoptable(
  input: ElectionInput,
  init: string | undefined,
  initVote: VoteRecord | undefined,
): { proposal: Proposal; hash: string } | undefined {
  if (initVote === undefined || initVote.epoch < 1) return undefined;
  const { proposal, hash } = initVote;
  if (proposal?.baseHash !== null || hash === undefined || proposal.initMaster !== init) return undefined;
  return electorsOf(proposal, undefined).includes(input.self) ? { proposal, hash } : undefined;
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
    write: record(input, {
      epoch: chosen.proposal.epoch,
      proposal: chosen.proposal,
      hash: chosen.hash,
      base: committed,
    }),
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
