/** Role modes a node is configured with (or an operator sets): `auto` lets the election choose. */
export type RoleMode = 'auto' | 'master' | 'worker' | 'none';
export const ROLE_MODE_VALUES: readonly RoleMode[] = ['auto', 'master', 'worker', 'none'];

export type AssignedRole = 'master' | 'worker';

export interface Assignment {
  peerId: string;
  name: string;
  role: AssignedRole;
}

/**
 * What a vote is for: the complete role assignment of one epoch. Every field is part of the
 * proposal hash, so two votes for the same hash are votes for exactly the same assignment.
 */
export interface Proposal {
  epoch: number;
  /** Hash of the committed decision this one replaces; null for the bootstrap decision (epoch 1). */
  baseHash: string | null;
  /** The node that ran `--cluster-init`: fixed at epoch 1 for the life of the cluster. */
  initMaster: string;
  /** True once the init master left the masters: if it comes back it joins like any other master. */
  initMasterRetired: boolean;
  /** Total masters wanted, fixed at bootstrap. */
  masterTarget: number;
  /** `minimum_nodes` of the bootstrap: the epoch-1 quorum is a majority of it (at least). */
  minimumNodes: number;
  /** Sorted by peer id. */
  members: Assignment[];
  /** The voters of the next epoch, sorted: a majority of them commits the next decision. */
  committee: string[];
  /**
   * Epoch 1 only: the bootstrap electorate, sorted — the first `minimumNodes` nodes by
   * first-publish time; a majority of them commits. Absent in proposals written before it
   * existed, whose electorate was their members.
   */
  electors?: string[];
}

/** A proposal that a quorum voted for. */
export interface Decision {
  hash: string;
  proposal: Proposal;
}

/**
 * The one record each node keeps in the ledger at `votes/<peerId>` (last writer wins). It
 * carries the node's mode (so peers know who takes part) and its latest vote; a node only ever
 * writes a higher epoch than its previous record, so it votes at most once per epoch.
 */
export interface VoteRecord {
  v: 1;
  name: string;
  mode: RoleMode;
  /**
   * When the node first published (ms, its own clock, raised above every `since` it knew then):
   * the bootstrap electorate is the first `minimumNodes` by this. Absent in older records.
   */
  since?: number;
  /** 0 until the node votes. */
  epoch: number;
  hash?: string;
  /**
   * What the vote is for. Absent in a bootstrap (epoch 1) vote for a proposal the node adopted
   * from the init master: the hash names it, and the init master's own vote, without which no
   * bootstrap proposal commits, carries it.
   */
  proposal?: Proposal;
  /** The committed decision this vote builds on (absent for epoch-1 votes). */
  base?: Decision;
}

/** An operator's `role set`, at `roles-override/<peerId>`; `auto` clears it. */
export interface RoleOverride {
  role: RoleMode;
  /** Who set it (peer id) and when (ms since the epoch), for `roles`. */
  by: string;
  at: number;
}
