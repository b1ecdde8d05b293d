import { describe, expect, it } from 'vitest';
import { proposalHash } from './hash.ts';
import { parseVoteRecord } from './records.ts';
import type { Proposal } from './types.ts';

function proposal(epoch: number, names: string[], baseHash: string | null = null): Proposal {
  const members = names.map((name, index) => ({
    peerId: `12D3KooW${name}`,
    name,
    role: index === 0 ? ('master' as const) : ('worker' as const),
  }));
  return {
    epoch,
    baseHash,
    initMaster: members[0]!.peerId,
    initMasterRetired: false,
    masterTarget: 1,
    minimumNodes: names.length,
    members,
    committee: members.map((member) => member.peerId),
  };
}

/** A vote as it comes out of the ledger: a fresh object parsed from JSON, as every entry is. */
function fromLedger(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

describe('parseVoteRecord', () => {
  const bootstrap = proposal(1, ['a', 'b', 'c']);
  const hash = proposalHash(bootstrap);
  const vote = { v: 1, name: 'b', mode: 'auto', since: 5, epoch: 1, hash, proposal: bootstrap };

  it('accepts a vote whose proposal hashes to its hash, each of many copies', () => {
    for (let copy = 0; copy < 3; copy += 1)
      expect(parseVoteRecord(fromLedger(vote))).toMatchObject({ epoch: 1, hash, proposal: bootstrap });
  });

  it('refuses a copy of a known proposal that claims another hash, and a changed one that claims its hash', () => {
    expect(parseVoteRecord(fromLedger(vote))).toBeDefined();
    expect(parseVoteRecord(fromLedger({ ...vote, hash: 'f'.repeat(64) }))).toBeUndefined();
    const changed = { ...bootstrap, masterTarget: 2 };
    expect(parseVoteRecord(fromLedger({ ...vote, proposal: changed }))).toBeUndefined();
    const badShape = { ...bootstrap, members: [{ peerId: '', name: 'x', role: 'boss' }] };
    expect(
      parseVoteRecord(fromLedger({ ...vote, proposal: badShape, hash: proposalHash(badShape as Proposal) })),
    ).toBeUndefined();
  });

  it('refuses a vote for another epoch than its proposal, or without its hash', () => {
    expect(parseVoteRecord(fromLedger({ ...vote, epoch: 2 }))).toBeUndefined();
    const { hash: _hash, ...unnamed } = vote;
    expect(parseVoteRecord(fromLedger(unnamed))).toBeUndefined();
  });

  it('takes a bootstrap vote that names its proposal by hash alone, but not a later one', () => {
    const { proposal: _proposal, ...byHash } = vote;
    expect(parseVoteRecord(fromLedger(byHash))).toEqual(byHash);
    const base = { hash, proposal: bootstrap };
    expect(parseVoteRecord(fromLedger({ ...byHash, epoch: 2, base }))).toBeUndefined();
  });

  it('needs the base a later proposal names, itself checked', () => {
    const next = proposal(2, ['a', 'b', 'c', 'd'], hash);
    const nextVote = { ...vote, epoch: 2, hash: proposalHash(next), proposal: next };
    expect(parseVoteRecord(fromLedger(nextVote))).toBeUndefined();
    expect(parseVoteRecord(fromLedger({ ...nextVote, base: { hash, proposal: bootstrap } }))).toMatchObject({
      base: { hash },
    });
    const forged = { hash, proposal: { ...bootstrap, masterTarget: 3 } };
    expect(parseVoteRecord(fromLedger({ ...nextVote, base: forged }))).toBeUndefined();
  });

  it('accepts a record that has not voted yet', () => {
    expect(parseVoteRecord(fromLedger({ v: 1, name: 'c', mode: 'worker', epoch: 0 }))).toEqual({
      v: 1,
      name: 'c',
      mode: 'worker',
      epoch: 0,
    });
  });
});
