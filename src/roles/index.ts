export type { KvChange, KvEntry, KvStore, Member, Membership, MeshRequests, Clock } from './ports.ts';
export { BUCKETS, systemClock } from './ports.ts';
export type {
  AssignedRole,
  Assignment,
  Decision,
  Proposal,
  RoleMode,
  RoleOverride,
  VoteRecord,
} from './types.ts';
export {
  electorsOf,
  evaluate,
  epochIsDead,
  hasQuorum,
  initiationDelayMs,
  latestCommitted,
  majority,
  quorumOf,
  type ElectionInput,
  type ElectionOutcome,
  type ElectionPhase,
  type ElectionSettings,
  type ElectionStatus,
} from './election.ts';
export {
  bootstrapElectors,
  bootstrapInitMaster,
  bootstrapProposal,
  nextProposal,
  pickCommittee,
  COMMITTEE_SIZE,
  type Candidate,
  type PlanView,
} from './planner.ts';
export { compareByRank, fnv1a32, proposalHash } from './hash.ts';
export {
  planK3s,
  rewriteKubeconfig,
  serverUrl,
  type K3sCommand,
  type K3sRole,
  type K3sSpec,
} from './k3s-plan.ts';
export {
  K3sDriver,
  type CommandRunner,
  type K3sBackend,
  type K3sDriverOptions,
  type K3sDriverPort,
  type K3sState,
  type K3sStatus,
} from './k3s-driver.ts';
export {
  RolesService,
  type NodeRole,
  type RolesConfig,
  type RolesNode,
  type RolesServiceOptions,
  type RolesSnapshot,
} from './roles-service.ts';
