import { createHash } from 'node:crypto';
import type { Proposal } from './types.ts';

/** FNV-1a 32-bit: a cheap, stable spread of peer ids for deterministic ordering. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

const rankCache = new Map<string, number>();

/** Order by FNV hash of the peer id, ties by the id itself: the same on every node. */
export function compareByRank(a: string, b: string): number {
  const difference = rankOf(a) - rankOf(b);
  if (difference !== 0) return difference;
  return a < b ? -1 : a > b ? 1 : 0;
}

function rankOf(peerId: string): number {
  let rank = rankCache.get(peerId);
  if (rank === undefined) {
    rank = fnv1a32(peerId);
    if (rankCache.size > 100_000) rankCache.clear();
    rankCache.set(peerId, rank);
  }
  return rank;
}

/** JSON with object keys sorted, so equal values always serialize to the same text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, item]) => item !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
}

const hashCache = new WeakMap<Proposal, string>();

/**
 * canonicalJson(proposal), written out for the known shape (it is hashed often: the simulation
 * hashes proposals of 10,000 members). Unknown extra fields would change the text, never collide.
 */
function proposalText(proposal: Proposal): string {
  const known = new Set([
    'baseHash',
    'committee',
    'electors',
    'epoch',
    'initMaster',
    'initMasterRetired',
    'masterTarget',
    'members',
    'minimumNodes',
  ]);
  if (Object.keys(proposal).some((key) => !known.has(key))) return canonicalJson(proposal);
  const members = proposal.members
    .map(
      (m) =>
        `{"name":${JSON.stringify(m.name)},"peerId":${JSON.stringify(m.peerId)},"role":${JSON.stringify(m.role)}}`,
    )
    .join(',');
  return (
    `{"baseHash":${JSON.stringify(proposal.baseHash)},"committee":${JSON.stringify(proposal.committee)},` +
    (proposal.electors === undefined ? '' : `"electors":${JSON.stringify(proposal.electors)},`) +
    `"epoch":${proposal.epoch},"initMaster":${JSON.stringify(proposal.initMaster)},` +
    `"initMasterRetired":${proposal.initMasterRetired},"masterTarget":${proposal.masterTarget},` +
    `"members":[${members}],"minimumNodes":${proposal.minimumNodes}}`
  );
}

/** SHA-256 of the canonical proposal: votes for one hash are votes for one exact assignment. */
export function proposalHash(proposal: Proposal): string {
  let hash = hashCache.get(proposal);
  if (hash === undefined) {
    hash = createHash('sha256').update(proposalText(proposal)).digest('hex');
    hashCache.set(proposal, hash);
  }
  return hash;
}
