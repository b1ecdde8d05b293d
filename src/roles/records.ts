import { z } from 'zod';
import { proposalHash } from './hash.ts';
import type { Proposal, RoleMode, RoleOverride, VoteRecord } from './types.ts';

/** Ledger values come from other nodes: each is validated, and a hash that does not match is dropped. */

const roleMode = z.enum(['auto', 'master', 'worker', 'none']);
const proposalSchema = z.object({
  epoch: z.number().int().positive(),
  baseHash: z.string().nullable(),
  initMaster: z.string().min(1),
  initMasterRetired: z.boolean(),
  masterTarget: z.number().int().positive(),
  minimumNodes: z.number().int().positive(),
  members: z.array(
    z.object({ peerId: z.string().min(1), name: z.string(), role: z.enum(['master', 'worker']) }),
  ),
  committee: z.array(z.string().min(1)),
  electors: z.array(z.string().min(1)).optional(),
});
// The proposals in a vote are checked apart (see checkedProposal).
const voteSchema = z.object({
  v: z.literal(1),
  name: z.string(),
  mode: roleMode,
  since: z.number().finite().optional(),
  epoch: z.number().int().nonnegative(),
  hash: z.string().optional(),
  proposal: z.unknown().optional(),
  base: z.object({ hash: z.string(), proposal: z.unknown() }).optional(),
});
const overrideSchema = z.object({ role: roleMode, by: z.string(), at: z.number() });
const joinSchema = z.object({ token: z.string().min(1), epoch: z.number().int().nonnegative() });
const nodeSchema = z
  .object({ name: z.string().optional(), addresses: z.array(z.string()).optional() })
  .loose();

/**
 * Proposals already validated and found to hash to their hash, by their JSON text: at a
 * bootstrap every elector's vote carries the same proposal (25 members: ~5 KB), and each node
 * would otherwise validate and hash it once per vote. Bounded, oldest out first.
 */
const checkedProposals = new Map<string, { hash: string; proposal: Proposal }>();
const CHECKED_PROPOSALS_MAX = 64;

/** The proposal, if `value` is a valid one whose hash is `hash`. */
function checkedProposal(value: unknown, hash: string): Proposal | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const text = JSON.stringify(value);
  const known = checkedProposals.get(text);
  if (known !== undefined) return known.hash === hash ? known.proposal : undefined;
  const parsed = proposalSchema.safeParse(value);
  if (!parsed.success || proposalHash(parsed.data) !== hash) return undefined;
  if (checkedProposals.size >= CHECKED_PROPOSALS_MAX) {
    const oldest = checkedProposals.keys().next();
    if (!oldest.done) checkedProposals.delete(oldest.value);
  }
  checkedProposals.set(text, { hash, proposal: parsed.data });
  return parsed.data;
}

/**
 * Ledger values are immutable, and the roles service reads every vote record on each of its many
 * evaluations while a mesh forms: each record object is validated and hash-checked once.
 */
const parsedVotes = new WeakMap<object, VoteRecord | null>();

export function parseVoteRecord(value: unknown): VoteRecord | undefined {
  if (typeof value !== 'object' || value === null) return validVoteRecord(value);
  const known = parsedVotes.get(value);
  if (known !== undefined) return known ?? undefined;
  const record = validVoteRecord(value);
  parsedVotes.set(value, record ?? null);
  return record;
}

function validVoteRecord(value: unknown): VoteRecord | undefined {
  const parsed = voteSchema.safeParse(value);
  if (!parsed.success) return undefined;
  const { proposal: rawProposal, base: rawBase, ...fields } = parsed.data;
  const record: VoteRecord = fields;
  if (rawBase !== undefined) {
    const proposal = checkedProposal(rawBase.proposal, rawBase.hash);
    if (proposal === undefined) return undefined;
    record.base = { hash: rawBase.hash, proposal };
  }
  if (record.epoch > 0) {
    if (record.hash === undefined) return undefined;
    // An adopted bootstrap vote names its proposal by hash (see VoteRecord.proposal).
    if (rawProposal === undefined) return rawBase === undefined ? record : undefined;
    const proposal = checkedProposal(rawProposal, record.hash);
    if (proposal === undefined || proposal.epoch !== record.epoch) return undefined;
    if (proposal.baseHash !== null && record.base?.hash !== proposal.baseHash) return undefined;
    record.proposal = proposal;
  } else if (rawProposal !== undefined) {
    const proposal = proposalSchema.safeParse(rawProposal);
    if (!proposal.success) return undefined;
    record.proposal = proposal.data;
  }
  return record;
}

export function parseOverride(value: unknown): RoleOverride | undefined {
  const parsed = overrideSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

export interface JoinRecord {
  token: string;
  epoch: number;
}

export function parseJoin(value: unknown): JoinRecord | undefined {
  const parsed = joinSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

export function parseNodeAddresses(value: unknown): string[] {
  const parsed = nodeSchema.safeParse(value);
  return parsed.success ? (parsed.data.addresses ?? []) : [];
}

export function isRoleMode(value: string): value is RoleMode {
  return roleMode.safeParse(value).success;
}

/**
 * The address to reach a node at, from its published multiaddrs: the first IPv4/IPv6 that is
 * not unspecified, preferring non-loopback ones.
 */
export function addressFromMultiaddrs(addresses: readonly string[]): string | undefined {
  const ips: string[] = [];
  for (const address of addresses) {
    const match = /^\/(ip4|ip6)\/([^/]+)/.exec(address);
    if (match?.[2] !== undefined && match[2] !== '0.0.0.0' && match[2] !== '::') ips.push(match[2]);
  }
  const loopback = (ip: string): boolean => ip.startsWith('127.') || ip === '::1';
  return ips.find((ip) => !loopback(ip)) ?? ips[0];
}
