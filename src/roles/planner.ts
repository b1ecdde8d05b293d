import { compareByRank } from './hash.ts';
import type { AssignedRole, Assignment, Decision, Proposal, RoleMode } from './types.ts';
import { sameList } from '../shared/same-list.ts';

/** Voters of the next epoch: small and fixed by each decision, so any two majorities meet. */
export const COMMITTEE_SIZE = 5;

/** A member as the planner sees it: its effective mode (operator override, else its own). */
export interface Candidate {
  peerId: string;
  name: string;
  mode: RoleMode;
}

/** A node whose record is visible, with its first-publish time (`VoteRecord.since`). */
export interface KnownNode extends Candidate {
  since: number;
}

export interface BootstrapSettings {
  minimumNodes: number;
  masterTarget: number;
}

export interface PlanView {
  /** Alive members whose mode is known (their vote record is visible), self included. */
  alive: readonly Candidate[];
  /** Effective mode of every node whose record is visible, alive or not. */
  modes: ReadonlyMap<string, RoleMode>;
  /** How long a node that is not alive has been unseen (ms). */
  unseenForMs: (peerId: string) => number;
  masterGraceMs: number;
}

/**
 * The bootstrap electorate: the first `minimumNodes` of `known` by first-publish time, ties by
 * rank. Every node that holds the same records computes the same set, whatever it sees alive
 * and however many nodes booted later (their `since` is later): so two bootstrap proposals
 * never have disjoint majorities. A bounded insertion list: `known` may hold 10,000 nodes.
 */
export function bootstrapElectors(known: readonly KnownNode[], minimumNodes: number): KnownNode[] {
  const before = (a: KnownNode, b: KnownNode): boolean =>
    a.since !== b.since ? a.since < b.since : compareByRank(a.peerId, b.peerId) < 0;
  const first: KnownNode[] = [];
  for (const node of known) {
    if (first.length === minimumNodes && !before(node, first[first.length - 1]!)) continue;
    let index = first.length;
    while (index > 0 && before(node, first[index - 1]!)) index--;
    first.splice(index, 0, node);
    if (first.length > minimumNodes) first.pop();
  }
  return first;
}

/**
 * The init master of a bootstrap: the first elector in electorate order (`bootstrapElectors`:
 * first published first) that may be a master, else the best-ranked alive node that may — a
 * static master when static masters alone meet the target. The first to publish has been up
 * the longest: in a mesh formed by bootstrapping to one node it is usually that node, which
 * holds every record first and reaches every peer directly, so its proposal and its coverage
 * pulls take one hop, not two. Only the electors commit, so views that disagree on it cost
 * time, never safety; it depends on the electors alone unless static masters or static workers
 * decide.
 */
export function bootstrapInitMaster(
  electors: readonly Candidate[],
  alive: readonly Candidate[],
  masterTarget: number,
): string | undefined {
  const staticMasters = new Set(
    [...electors, ...alive].filter((node) => node.mode === 'master').map((node) => node.peerId),
  );
  const mayBeMaster = (node: Candidate): boolean =>
    node.mode === 'master' || (node.mode === 'auto' && staticMasters.size < masterTarget);
  const bestRanked = (nodes: readonly Candidate[]): string | undefined => {
    let best: string | undefined;
    for (const node of nodes)
      if (mayBeMaster(node) && (best === undefined || compareByRank(node.peerId, best) < 0))
        best = node.peerId;
    return best;
  };
  return electors.find(mayBeMaster)?.peerId ?? bestRanked(alive);
}

/**
 * The epoch-1 proposal from one node's view: every alive eligible node with a visible record is
 * a member (so most nodes have their role at once), the electors commit it, `initMaster` as
 * `bootstrapInitMaster`. Masters: static masters, the init master, then `auto` members by rank
 * until the target is met.
 */
export function bootstrapProposal(
  alive: readonly Candidate[],
  electors: readonly Candidate[],
  initMaster: string,
  settings: BootstrapSettings,
): Proposal {
  const eligible = alive
    .filter((node) => node.mode !== 'none')
    .sort((a, b) => compareByRank(a.peerId, b.peerId));
  const masters = new Set([
    initMaster,
    ...eligible.filter((node) => node.mode === 'master').map((node) => node.peerId),
  ]);
  for (const node of eligible) {
    if (masters.size >= settings.masterTarget) break;
    if (node.mode === 'auto') masters.add(node.peerId);
  }
  const members = sortMembers(
    eligible.map((node) => ({
      peerId: node.peerId,
      name: node.name,
      role: masters.has(node.peerId) ? 'master' : 'worker',
    })),
  );
  const aliveIds = new Set(eligible.map((node) => node.peerId));
  return {
    epoch: 1,
    baseHash: null,
    initMaster,
    initMasterRetired: false,
    masterTarget: settings.masterTarget,
    minimumNodes: settings.minimumNodes,
    members,
    committee: pickCommittee(members, [], aliveIds, () => false),
    electors: electors.map((node) => node.peerId).sort(),
  };
}

/**
 * The change the committed decision needs, as the proposal for `epoch`, or undefined when it
 * needs none. Mode changes first, then masters lost past their grace leave, new nodes join
 * (as masters while the target is unmet), and `auto` masters are added or stepped down so the
 * masters never exceed max(target, static masters).
 */
export function nextProposal(base: Decision, view: PlanView, epoch: number): Proposal | undefined {
  const previous = base.proposal;
  // Planning needs every master's mode (is it static?): wait until their records are visible.
  if (previous.members.some((member) => member.role === 'master' && !view.modes.has(member.peerId)))
    return undefined;
  const aliveIds = new Set(view.alive.map((node) => node.peerId));
  const lost = (peerId: string): boolean =>
    !aliveIds.has(peerId) && view.unseenForMs(peerId) > view.masterGraceMs;
  const members = new Map<string, Assignment>(
    previous.members.map((member) => [member.peerId, { ...member }]),
  );

  for (const member of [...members.values()]) {
    const mode = view.modes.get(member.peerId);
    if (mode === 'none') members.delete(member.peerId);
    else if (mode === 'master') member.role = 'master';
    else if (mode === 'worker') member.role = 'worker';
    if (member.role === 'master' && lost(member.peerId)) members.delete(member.peerId);
  }

  const mastersCount = (): number =>
    [...members.values()].filter((member) => member.role === 'master').length;
  const joining = view.alive
    .filter((node) => node.mode !== 'none' && !members.has(node.peerId))
    .sort((a, b) => compareByRank(a.peerId, b.peerId));
  for (const node of joining) {
    const role: AssignedRole =
      node.mode === 'master' || (node.mode === 'auto' && mastersCount() < previous.masterTarget)
        ? 'master'
        : 'worker';
    members.set(node.peerId, { peerId: node.peerId, name: node.name, role });
  }

  const autoOf = (role: AssignedRole, aliveOnly: boolean): Assignment[] =>
    [...members.values()]
      .filter(
        (member) =>
          member.role === role &&
          view.modes.get(member.peerId) === 'auto' &&
          (!aliveOnly || aliveIds.has(member.peerId)),
      )
      .sort((a, b) => compareByRank(a.peerId, b.peerId));
  for (const worker of autoOf('worker', true)) {
    if (mastersCount() >= previous.masterTarget) break;
    worker.role = 'master';
  }
  // Above target only because static masters arrived: step down `auto` masters, newest rank first,
  // the init master last.
  const stepDown = autoOf('master', false).sort(
    (a, b) =>
      Number(b.peerId !== previous.initMaster) - Number(a.peerId !== previous.initMaster) ||
      compareByRank(b.peerId, a.peerId),
  );
  for (const master of stepDown) {
    if (mastersCount() <= previous.masterTarget) break;
    master.role = 'worker';
  }

  const sorted = sortMembers([...members.values()]);
  const initMasterRetired = previous.initMasterRetired || members.get(previous.initMaster)?.role !== 'master';
  const committee = pickCommittee(sorted, previous.committee, aliveIds, lost);
  if (
    initMasterRetired === previous.initMasterRetired &&
    sameMembers(sorted, previous.members) &&
    sameList(committee, previous.committee)
  )
    return undefined;
  if (sorted.length === 0) return undefined;
  return {
    epoch,
    baseHash: base.hash,
    initMaster: previous.initMaster,
    initMasterRetired,
    masterTarget: previous.masterTarget,
    minimumNodes: previous.minimumNodes,
    members: sorted,
    committee,
  };
}

/**
 * Keeps the committee members that are still members and not lost, then fills up to
 * COMMITTEE_SIZE with alive members, masters first, in rank order.
 */
export function pickCommittee(
  members: readonly Assignment[],
  previous: readonly string[],
  alive: ReadonlySet<string>,
  lost: (peerId: string) => boolean,
): string[] {
  const memberIds = new Set(members.map((member) => member.peerId));
  const committee = previous.filter((peerId) => memberIds.has(peerId) && !lost(peerId));
  const chosen = new Set(committee);
  // The best few by (masters first, rank): a bounded insertion list, not a sort of every member.
  const better = (a: Assignment, b: Assignment): boolean =>
    a.role !== b.role ? a.role === 'master' : compareByRank(a.peerId, b.peerId) < 0;
  const best: Assignment[] = [];
  const wanted = COMMITTEE_SIZE - committee.length;
  for (const member of members) {
    if (wanted <= 0) break;
    if (!alive.has(member.peerId) || chosen.has(member.peerId)) continue;
    if (best.length === wanted && !better(member, best[best.length - 1]!)) continue;
    let index = best.length;
    while (index > 0 && better(member, best[index - 1]!)) index--;
    best.splice(index, 0, member);
    if (best.length > wanted) best.pop();
  }
  for (const member of best) committee.push(member.peerId);
  return committee.sort();
}

function sortMembers(members: Assignment[]): Assignment[] {
  return members.sort((a, b) => (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0));
}

function sameMembers(a: readonly Assignment[], b: readonly Assignment[]): boolean {
  return (
    a.length === b.length &&
    a.every((member, index) => {
      const other = b[index];
      return other !== undefined && other.peerId === member.peerId && other.role === member.role;
    })
  );
}
