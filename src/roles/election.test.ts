import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  electorsOf,
  evaluate,
  hasQuorum,
  latestCommitted,
  majority,
  type ElectionInput,
} from './election.ts';
import { createHash } from 'node:crypto';
import { canonicalJson, proposalHash } from './hash.ts';
import { bootstrapElectors, bootstrapInitMaster, bootstrapProposal } from './planner.ts';
import type { Decision, Proposal, RoleMode, VoteRecord } from './types.ts';

function input(overrides: Partial<ElectionInput> & { self: string }): ElectionInput {
  return {
    selfName: overrides.self,
    selfMode: 'auto',
    settings: { minimumNodes: 3, masterTarget: 1, masterGraceMs: 60_000 },
    records: new Map(),
    overrides: new Map(),
    alive: [],
    unseenForMs: () => 0,
    recordKnownForMs: () => 60_000,
    syncWindowMs: 1000,
    now: 0,
    unrecorded: [],
    settled: true,
    ...overrides,
  };
}

const hello = (peerId: string, mode: RoleMode = 'auto', since = 0): VoteRecord => ({
  v: 1,
  name: peerId,
  mode,
  since,
  epoch: 0,
});

describe('bootstrap', () => {
  it('publishes its record first, then says how many nodes it waits for', () => {
    const first = evaluate(input({ self: 'a', alive: [{ peerId: 'a', name: 'a' }] }));
    expect(first.write).toEqual(hello('a'));
    const records = new Map([
      ['a', hello('a')],
      ['b', hello('b')],
    ]);
    const waiting = evaluate(
      input({
        self: 'a',
        records,
        alive: ['a', 'b'].map((peerId) => ({ peerId, name: peerId })),
      }),
    );
    expect(waiting.write).toBeUndefined();
    expect(waiting.status).toMatchObject({ phase: 'waiting-for-nodes', message: '2 of 3 nodes alive' });
  });

  it('asks to pull the record of an alive node it lacks, from any member that holds it', () => {
    const records = new Map([
      ['a', hello('a')],
      ['b', hello('b')],
    ]);
    const alive = ['a', 'b', 'c', 'd'].map((peerId) => ({ peerId, name: peerId }));
    const settings = { minimumNodes: 5, masterTarget: 1, masterGraceMs: 60_000 };
    const outcome = evaluate(input({ self: 'a', records, alive, settings }));
    expect(outcome.status.phase).toBe('waiting-for-nodes');
    expect(outcome.pull).toEqual({ peers: ['c', 'd'], withinMs: 1000, anyHolder: true });
    records.set('c', hello('c'));
    expect(evaluate(input({ self: 'a', records, alive, settings })).pull?.peers).toEqual(['d']);
    // Eight at a time: the next ones once these arrive.
    const many = Array.from({ length: 20 }, (_, index) => ({ peerId: `p${index}`, name: `p${index}` }));
    const crowd = evaluate(input({ self: 'a', records, alive: [...alive, ...many], settings }));
    expect(crowd.pull?.peers).toEqual(['d', 'p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
  });

  it('makes a single-node cluster at once with minimumNodes 1', () => {
    for (const mode of ['auto', 'master'] as const) {
      const records = new Map([['solo', hello('solo', mode)]]);
      const base = input({
        self: 'solo',
        selfMode: mode,
        settings: { minimumNodes: 1, masterTarget: 1, masterGraceMs: 1000 },
        records,
        alive: [{ peerId: 'solo', name: 'solo' }],
      });
      const vote = evaluate(base).write!;
      expect(vote.epoch).toBe(1);
      records.set('solo', vote);
      const after = evaluate(base);
      expect(after.committed?.proposal).toMatchObject({
        epoch: 1,
        initMaster: 'solo',
        members: [{ peerId: 'solo', role: 'master' }],
      });
      expect(after.status.phase).toBe('committed');
    }
  });

  it('respects static roles and leaves out role none', () => {
    const modes: Record<string, RoleMode> = { a: 'worker', b: 'none', c: 'master', d: 'auto', e: 'auto' };
    const records = new Map(Object.entries(modes).map(([peerId, mode]) => [peerId, hello(peerId, mode)]));
    // Only the init master of the view proposes; the others wait for its vote.
    const outcomes = ['a', 'c', 'd', 'e'].map((self) =>
      evaluate(
        input({
          self,
          selfMode: modes[self]!,
          records,
          settings: { minimumNodes: 4, masterTarget: 2, masterGraceMs: 1000 },
          alive: Object.keys(modes).map((peerId) => ({ peerId, name: peerId })),
        }),
      ),
    );
    const proposers = outcomes.filter((outcome) => outcome.write !== undefined);
    expect(proposers).toHaveLength(1);
    const outcome = proposers[0]!;
    expect(outcomes.find((other) => other.write === undefined)?.status.message).toMatch(
      /waiting for the init master/,
    );
    const proposal = outcome.write!.proposal!;
    const roles = Object.fromEntries(proposal.members.map((member) => [member.peerId, member.role]));
    expect(roles['a']).toBe('worker');
    expect(roles['b']).toBeUndefined();
    expect(roles['c']).toBe('master');
    expect(Object.values(roles).filter((role) => role === 'master')).toHaveLength(2);
  });

  it('says so when no node may be a master', () => {
    const records = new Map(['a', 'b'].map((peerId) => [peerId, hello(peerId, 'worker')]));
    const outcome = evaluate(
      input({
        self: 'a',
        selfMode: 'worker',
        settings: { minimumNodes: 2, masterTarget: 1, masterGraceMs: 1000 },
        records,
        alive: ['a', 'b'].map((peerId) => ({ peerId, name: peerId })),
      }),
    );
    expect(outcome.status.phase).toBe('no-master-candidate');
    expect(outcome.write).toBeUndefined();
  });

  it('computes the same proposal whatever order it sees nodes and records in', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 3, maxLength: 12 }),
        fc.array(fc.constantFrom<RoleMode>('auto', 'auto', 'master', 'worker', 'none'), {
          minLength: 12,
          maxLength: 12,
        }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        (peers, modes, masterTarget, shuffleSeed) => {
          const entries = peers.map((peerId, index): [string, VoteRecord] => [
            peerId,
            hello(peerId, modes[index] === 'none' ? 'auto' : modes[index]!),
          ]);
          const shuffled = [...entries].sort(
            (a, b) => ((a[0].charCodeAt(0) * shuffleSeed) % 97) - ((b[0].charCodeAt(0) * shuffleSeed) % 97),
          );
          const proposalFrom = (list: [string, VoteRecord][]): Proposal | undefined => {
            const nodes = list.map(([peerId, record]) => ({
              peerId,
              name: peerId,
              mode: record.mode,
              since: 0,
            }));
            const electors = bootstrapElectors(nodes, 3);
            const init = bootstrapInitMaster(electors, nodes, masterTarget);
            return init === undefined
              ? undefined
              : bootstrapProposal(nodes, electors, init, { minimumNodes: 3, masterTarget });
          };
          const a = proposalFrom(entries);
          const b = proposalFrom(shuffled);
          expect(a === undefined).toBe(b === undefined);
          if (a !== undefined && b !== undefined) expect(proposalHash(a)).toBe(proposalHash(b));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('bootstrap rule: electors by first publish, a sync window, the init master proposes', () => {
  const peerIds = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 3, maxLength: 9 });
  const modeArb = fc.constantFrom<RoleMode>('auto', 'auto', 'master', 'worker', 'none');

  it('names the same electors and init master whatever is alive and whoever published later', () => {
    fc.assert(
      fc.property(
        peerIds,
        fc.array(modeArb, { minLength: 9, maxLength: 9 }),
        fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 9, maxLength: 9 }),
        fc.array(fc.boolean(), { minLength: 9, maxLength: 9 }),
        fc.integer({ min: 1, max: 3 }),
        (peers, modes, sinces, seenByB, masterTarget) => {
          const nodes = peers
            .map((peerId, index) => ({ peerId, name: peerId, mode: modes[index]!, since: sinces[index]! }))
            .filter((node) => node.mode !== 'none');
          const electorsA = bootstrapElectors(nodes, 3);
          if (electorsA.length < 3) return;
          const last = electorsA[2]!.since;
          // B holds the same records up to the last elector's, and any subset of the later ones.
          const viewB = nodes.filter((node, index) => node.since <= last || seenByB[index]);
          const electorsB = bootstrapElectors([...viewB].reverse(), 3);
          expect(electorsB.map((node) => node.peerId)).toEqual(electorsA.map((node) => node.peerId));
          // The init master too, unless static roles decide it (static masters among the later
          // nodes, or electors that are all static workers: then the alive view chooses).
          const later = nodes.filter((node) => !electorsA.includes(node));
          if (
            later.some((node) => node.mode === 'master') ||
            electorsA.every((node) => node.mode === 'worker')
          )
            return;
          expect(bootstrapInitMaster(electorsB, viewB, masterTarget)).toBe(
            bootstrapInitMaster(electorsA, nodes, masterTarget),
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it('never proposes in epoch 1 before every elector record is a sync window old', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 5, maxLength: 5 }),
        fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 5, maxLength: 5 }),
        (knownFor, sinces) => {
          const peers = ['a', 'b', 'c', 'd', 'e'];
          const records = new Map(
            peers.map((peerId, index) => [peerId, hello(peerId, 'auto', sinces[index])]),
          );
          const knownForMs = (peerId: string): number => knownFor[peers.indexOf(peerId)]!;
          const electors = bootstrapElectors(
            peers.map((peerId, index) => ({
              peerId,
              name: peerId,
              mode: 'auto' as const,
              since: sinces[index]!,
            })),
            3,
          );
          for (const self of peers) {
            const outcome = evaluate(
              input({
                self,
                records,
                alive: peers.map((peerId) => ({ peerId, name: peerId })),
                recordKnownForMs: knownForMs,
              }),
            );
            const young = electors.some((node) => knownForMs(node.peerId) < 1000);
            if (young) expect(outcome.write).toBeUndefined();
            if (outcome.write !== undefined)
              expect(outcome.write.proposal?.electors).toEqual(electors.map((node) => node.peerId).sort());
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the init master proposes before the window once every alive peer was synced since the electors were known', () => {
    const peers = ['a', 'b', 'c', 'd', 'e'];
    const alive = peers.map((peerId) => ({ peerId, name: peerId }));
    const records = new Map(peers.map((peerId, index) => [peerId, hello(peerId, 'auto', index)]));
    const electors = peers
      .slice(0, 3)
      .map((peerId, index) => ({ peerId, name: peerId, mode: 'auto' as const, since: index }));
    const init = bootstrapInitMaster(electors, [], 1)!;
    const others = peers.filter((peerId) => peerId !== init);
    // Every elector's record held for 200 ms: 800 ms of the 1 s window left.
    const base = input({ self: init, records, alive, recordKnownForMs: () => 200 });
    const waiting = evaluate(base);
    expect(waiting.write).toBeUndefined();
    expect(waiting.pull).toEqual({ peers: others, withinMs: 200, anyHolder: false });
    expect(waiting.recheckInMs).toBe(800);
    expect(evaluate({ ...base, coveredForMs: () => 150 }).write).toMatchObject({
      epoch: 1,
      proposal: { initMaster: init },
    });
    // One peer synced only before the electors were known, or never: still waiting, for it alone.
    for (const stale of [250, Infinity]) {
      const late = others[1]!;
      const outcome = evaluate({ ...base, coveredForMs: (peerId) => (peerId === late ? stale : 150) });
      expect(outcome.write).toBeUndefined();
      expect(outcome.pull?.peers).toEqual([late]);
    }
    // The window alone still suffices (a peer that never answers a pull).
    expect(evaluate({ ...base, recordKnownForMs: () => 1000 }).write?.epoch).toBe(1);
    // The other nodes never pull for the bootstrap: they adopt the init master's proposal.
    for (const self of others) expect(evaluate({ ...base, self }).pull).toBeUndefined();
    // While the view settles the init master does not propose, but already pulls, so the
    // settle time and the pulls overlap; once covered, it proposes as soon as it settled.
    const settling = evaluate({ ...base, settled: false, coveredForMs: () => 150 });
    expect(settling.write).toBeUndefined();
    expect(settling.status.phase).toBe('settling');
    expect(evaluate({ ...base, settled: false }).pull).toEqual(waiting.pull);
    for (const self of others) expect(evaluate({ ...base, self, settled: false }).pull).toBeUndefined();
  });

  it('an elector adopts the init master proposal at once, unless its own records name another init master', () => {
    const peers = ['a', 'b', 'c', 'd'];
    const alive = peers.map((peerId) => ({ peerId, name: peerId }));
    const electors = peers
      .slice(0, 3)
      .map((peerId, index) => ({ peerId, name: peerId, mode: 'auto' as const, since: index }));
    const init = bootstrapInitMaster(electors, [], 1)!;
    const records = new Map(peers.map((peerId, index) => [peerId, hello(peerId, 'auto', index)]));
    const proposed = evaluate(input({ self: init, records, alive })).write!;
    expect(proposed.proposal?.initMaster).toBe(init);
    records.set(init, proposed);
    for (const self of peers.slice(0, 3).filter((peerId) => peerId !== init)) {
      // Records a few ms old and not settled: it votes all the same, for the same proposal.
      const young = input({ self, records, alive, recordKnownForMs: () => 5, settled: false });
      expect(evaluate(young).write).toMatchObject({ epoch: 1, hash: proposed.hash });
      // Without the records of its own electorate it cannot check the init master: it waits,
      // and pulls from the init master, which holds them all.
      const partial = new Map([...records].filter(([peerId]) => peerId === self || peerId === init));
      const waiting = evaluate({ ...young, records: partial });
      expect(waiting.write).toBeUndefined();
      expect(waiting.pull?.peers[0]).toBe(init);
      // A record the init master lacked, earlier than every elector's and better ranked
      // (`0` precedes every other id): this node's electorate has another init master.
      const hidden = new Map([...records, ['0', hello('0', 'auto', -1)]]);
      expect(bootstrapInitMaster([{ peerId: '0', name: '0', mode: 'auto' }, ...electors], [], 1)).toBe('0');
      expect(evaluate({ ...young, records: hidden }).write).toBeUndefined();
    }
    // `d` published after the electors: it is no elector and does not vote.
    expect(evaluate(input({ self: 'd', records, alive })).write).toBeUndefined();
  });

  it('an adopted vote names the proposal by hash, and counts wherever the init master vote is seen', () => {
    const peers = ['a', 'b', 'c'];
    const alive = peers.map((peerId) => ({ peerId, name: peerId }));
    const records = new Map(peers.map((peerId, index) => [peerId, hello(peerId, 'auto', index)]));
    const init = bootstrapInitMaster(
      peers.map((peerId, index) => ({ peerId, name: peerId, mode: 'auto' as const, since: index })),
      [],
      1,
    )!;
    const proposed = evaluate(input({ self: init, records, alive })).write!;
    records.set(init, proposed);
    const adopter = peers.find((peerId) => peerId !== init)!;
    const adopted = evaluate(input({ self: adopter, records, alive })).write!;
    expect(adopted).toMatchObject({ epoch: 1, hash: proposed.hash });
    expect(adopted.proposal).toBeUndefined();
    records.set(adopter, adopted);
    const third = peers.find((peerId) => peerId !== init && peerId !== adopter)!;
    // Two of three electors, the init master among them: committed, at the third node too.
    expect(evaluate(input({ self: third, records, alive })).committed?.hash).toBe(proposed.hash);
    // Without the init master's vote, the hash alone commits nothing (nor could it: the init
    // master must vote).
    const withoutInit = new Map([...records, [init, hello(init, 'auto', peers.indexOf(init))]]);
    expect(evaluate(input({ self: third, records: withoutInit, alive })).committed).toBeUndefined();
  });

  it('waits for the record of a node heard alive before the electors were known', () => {
    const records = new Map(['a', 'b', 'c'].map((peerId, index) => [peerId, hello(peerId, 'auto', index)]));
    const alive = ['a', 'b', 'c'].map((peerId) => ({ peerId, name: peerId }));
    for (const self of ['a', 'b', 'c']) {
      // `x` was heard 5 s ago (its record hidden, say by a cut), the electors' records 2 s ago.
      const base = input({ self, records, alive, recordKnownForMs: () => 2000 });
      const heardEarlier = evaluate({ ...base, unrecorded: [{ peerId: 'x', name: 'x', heardForMs: 5000 }] });
      expect(heardEarlier.write).toBeUndefined();
      expect(heardEarlier.status.message).toMatch(/record of x/);
      // Heard after they were known, or lost past the grace: it cannot change the electors.
      const later = evaluate({ ...base, unrecorded: [{ peerId: 'x', name: 'x', heardForMs: 1000 }] });
      const lost = evaluate({
        ...base,
        unrecorded: [{ peerId: 'x', name: 'x', heardForMs: 5000 }],
        unseenForMs: () => 120_000,
      });
      expect(later.status.message).not.toMatch(/record of x/);
      expect(lost.status.message).not.toMatch(/record of x/);
    }
  });

  it('a node that published after the electors never proposes, however well it ranks', () => {
    const early = ['a', 'b', 'c'];
    // Whatever its id, the late node is no elector: it waits, and the electors' init master proposes.
    for (const late of ['0', 'zz', 'late', '~']) {
      const records = new Map([
        ...early.map((peerId, index): [string, VoteRecord] => [peerId, hello(peerId, 'auto', index)]),
        [late, hello(late, 'auto', 5000)],
      ]);
      const alive = [...early, late].map((peerId) => ({ peerId, name: peerId }));
      const outcome = evaluate(input({ self: late, records, alive }));
      expect(outcome.write).toBeUndefined();
      const init = bootstrapInitMaster(
        early.map((peerId) => ({ peerId, name: peerId, mode: 'auto' as const })),
        [],
        1,
      );
      const proposal = evaluate(input({ self: init!, records, alive })).write?.proposal;
      expect(proposal?.electors).toEqual(early);
      expect(proposal?.members.map((member) => member.peerId)).toContain(late);
    }
  });
});

/**
 * A small replicated world for property tests: each node has its own copy of the records
 * (last writer wins by per-author sequence), writes reach other nodes only when an action
 * delivers them (in any order, or never: a partition), nodes crash and restart, and every
 * node's presence view and loss timers are whatever the test says.
 */
interface WorldNode {
  id: string;
  mode: RoleMode;
  records: Map<string, VoteRecord & { seq: number }>;
  overrides: Map<string, { role: RoleMode; seq: number }>;
  known: Decision | undefined;
  alive: string[];
  lostPeers: Set<string>;
  up: boolean;
  /** When this node first held each author's record (world clock). */
  knownAt: Map<string, number>;
  /** When this node first heard each peer alive (world clock). */
  heardAt: Map<string, number>;
  /** Its first record and when it wrote it. */
  first?: { record: VoteRecord & { seq: number }; at: number };
}

type Action =
  | { kind: 'step'; node: number }
  | { kind: 'deliver'; from: number; to: number }
  | { kind: 'view'; node: number; mask: number }
  | { kind: 'lose'; node: number; peer: number; lost: boolean }
  | { kind: 'heal' }
  | { kind: 'crash'; node: number }
  | { kind: 'restart'; node: number }
  | { kind: 'override'; node: number; target: number; role: RoleMode };

interface Cast {
  author: string;
  epoch: number;
  hash: string;
  proposal: Proposal;
  base: Decision | undefined;
}

/**
 * With `syncWindow` (in actions), a node's first record reaches every node that steps that
 * many actions after it was written (the election's synchrony assumption); every other
 * delivery stays arbitrary. Without it records arrive only when an action delivers them, and
 * every record counts as old.
 */
class World {
  readonly nodes: WorldNode[];
  readonly cast: Cast[] = [];
  readonly settings: ElectionInput['settings'];
  private readonly syncWindow: number | undefined;
  private seq = 0;
  private clock = 0;

  constructor(modes: RoleMode[], settings: ElectionInput['settings'], known?: Decision, syncWindow?: number) {
    this.settings = settings;
    this.syncWindow = syncWindow;
    this.nodes = modes.map((mode, index) => ({
      id: `n${index}`,
      mode,
      records: new Map(),
      overrides: new Map(),
      known,
      alive: modes.map((_, peer) => `n${peer}`),
      lostPeers: new Set(),
      up: true,
      knownAt: new Map(),
      heardAt: new Map(modes.map((_, peer) => [`n${peer}`, 0])),
    }));
  }

  private hold(node: WorldNode, author: string, record: VoteRecord & { seq: number }, at: number): void {
    const current = node.records.get(author);
    if (current === undefined || current.seq < record.seq) node.records.set(author, record);
    if (!node.knownAt.has(author)) node.knownAt.set(author, at);
  }

  apply(action: Action): void {
    this.clock++;
    if (action.kind === 'heal') {
      // Anti-entropy after a partition: every node gets every record.
      for (let to = 0; to < this.nodes.length; to++)
        for (let from = 0; from < this.nodes.length; from++) this.apply({ kind: 'deliver', from, to });
      return;
    }
    const node = this.nodes[(action.kind === 'deliver' ? action.to : action.node) % this.nodes.length]!;
    switch (action.kind) {
      case 'step':
        return this.step(node);
      case 'deliver': {
        const from = this.nodes[action.from % this.nodes.length]!;
        const record = from.records.get(from.id);
        if (record !== undefined) this.hold(node, from.id, record, this.clock);
        for (const [target, override] of from.overrides) {
          const mine = node.overrides.get(target);
          if (mine === undefined || mine.seq < override.seq) node.overrides.set(target, override);
        }
        return;
      }
      case 'view':
        node.alive = this.nodes
          .filter((_, index) => (action.mask >> index) & 1 || index === action.node % this.nodes.length)
          .map((peer) => peer.id);
        for (const peerId of node.alive) if (!node.heardAt.has(peerId)) node.heardAt.set(peerId, this.clock);
        return;
      case 'lose': {
        const peer = this.nodes[action.peer % this.nodes.length]!.id;
        if (action.lost) node.lostPeers.add(peer);
        else node.lostPeers.delete(peer);
        return;
      }
      case 'crash':
        node.up = false;
        return;
      case 'restart':
        node.up = true;
        node.known = undefined;
        // A restarted service times every record from its start again.
        for (const author of node.knownAt.keys()) node.knownAt.set(author, this.clock);
        return;
      case 'override': {
        const target = this.nodes[action.target % this.nodes.length]!.id;
        node.overrides.set(target, { role: action.role, seq: ++this.seq });
        return;
      }
    }
  }

  step(node: WorldNode): void {
    if (!node.up) return;
    const window = this.syncWindow;
    if (window !== undefined)
      for (const other of this.nodes)
        if (other.first !== undefined && other.first.at + window <= this.clock)
          this.hold(node, other.id, other.first.record, other.first.at + window);
    const outcome = evaluate({
      self: node.id,
      selfName: node.id,
      selfMode: node.mode,
      settings: this.settings,
      records: node.records,
      overrides: new Map([...node.overrides].map(([peer, value]) => [peer, value.role])),
      alive: node.alive.map((peerId) => ({ peerId, name: peerId })),
      unseenForMs: (peerId) => (node.lostPeers.has(peerId) ? Number.MAX_SAFE_INTEGER : 0),
      recordKnownForMs: (peerId) =>
        window === undefined
          ? Number.MAX_SAFE_INTEGER
          : this.clock - (node.knownAt.get(peerId) ?? this.clock),
      syncWindowMs: window ?? 0,
      now: this.clock,
      unrecorded: [...node.heardAt]
        .filter(([peerId]) => !node.records.has(peerId))
        .map(([peerId, at]) => ({ peerId, name: peerId, heardForMs: this.clock - at })),
      settled: true,
      known: node.known,
    });
    if (outcome.committed !== undefined) node.known = outcome.committed;
    const write = outcome.write;
    if (write === undefined) return;
    const previous = node.records.get(node.id);
    // The one-vote-per-epoch rule, checked from outside the module.
    if (write.epoch > 0 && previous !== undefined && write.hash !== previous.hash)
      expect(write.epoch).toBeGreaterThan(previous.epoch);
    const written = { ...write, seq: ++this.seq };
    node.records.set(node.id, written);
    node.knownAt.set(node.id, this.clock);
    node.first ??= { record: written, at: this.clock };
    if (write.epoch > 0 && write.hash !== previous?.hash) {
      // An adopted bootstrap vote names its proposal by hash: the init master's, cast before.
      const proposal = write.proposal ?? this.cast.find((vote) => vote.hash === write.hash)?.proposal;
      if (proposal === undefined) throw new Error(`a vote for ${write.hash} whose proposal no one cast`);
      this.cast.push({ author: node.id, epoch: write.epoch, hash: write.hash!, proposal, base: write.base });
    }
  }

  /** Ground truth from every vote ever cast (the ledger keeps only the latest per node). */
  committedByEpoch(): Map<number, Map<string, Proposal>> {
    const voters = new Map<
      string,
      { proposal: Proposal; base: Decision | undefined; authors: Set<string> }
    >();
    for (const vote of this.cast) {
      let entry = voters.get(vote.hash);
      if (entry === undefined)
        voters.set(vote.hash, (entry = { proposal: vote.proposal, base: vote.base, authors: new Set() }));
      if (electorsOf(vote.proposal, vote.base).includes(vote.author)) entry.authors.add(vote.author);
    }
    const result = new Map<number, Map<string, Proposal>>();
    for (const [hash, entry] of voters) {
      if (!hasQuorum(entry.proposal, entry.base, entry.authors)) continue;
      const epoch = entry.proposal.epoch;
      if (!result.has(epoch)) result.set(epoch, new Map());
      result.get(epoch)!.set(hash, entry.proposal);
    }
    return result;
  }
}

/** With `consistent`, no node is judged lost and no override is set: every view agrees on them. */
const actionArb = (count: number, consistent = false): fc.Arbitrary<Action> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('step' as const), node: fc.nat(count - 1) }) },
    {
      weight: 8,
      arbitrary: fc.record({
        kind: fc.constant('deliver' as const),
        from: fc.nat(count - 1),
        to: fc.nat(count - 1),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('view' as const),
        node: fc.nat(count - 1),
        mask: fc.nat((1 << count) - 1),
      }),
    },
    {
      weight: consistent ? 0 : 1,
      arbitrary: fc.record({
        kind: fc.constant('lose' as const),
        node: fc.nat(count - 1),
        peer: fc.nat(count - 1),
        lost: fc.boolean(),
      }),
    },
    { weight: 1, arbitrary: fc.constant({ kind: 'heal' as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const), node: fc.nat(count - 1) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const), node: fc.nat(count - 1) }) },
    {
      weight: consistent ? 0 : 1,
      arbitrary: fc.record({
        kind: fc.constant('override' as const),
        node: fc.nat(count - 1),
        target: fc.nat(count - 1),
        role: fc.constantFrom<RoleMode>('auto', 'worker', 'none'),
      }),
    },
  );

const RUNS = Number(process.env['ELECTION_PROPERTY_RUNS'] ?? 400);

/** Returns the highest committed epoch, so tests can show they reached later epochs. */
function checkWorld(world: World): number {
  const committed = world.committedByEpoch();
  const initMasters = new Set<string>();
  for (const [epoch, proposals] of committed) {
    // Never two decisions for one epoch.
    expect(proposals.size, `epoch ${epoch}`).toBe(1);
    for (const proposal of proposals.values()) {
      initMasters.add(proposal.initMaster);
      const staticMasters = proposal.members.filter(
        (member) => world.nodes.find((node) => node.id === member.peerId)?.mode === 'master',
      ).length;
      const masters = proposal.members.filter((member) => member.role === 'master').length;
      expect(masters).toBeLessThanOrEqual(Math.max(proposal.masterTarget, staticMasters));
    }
  }
  // One cluster: the init master never changes.
  expect(initMasters.size).toBeLessThanOrEqual(1);
  // No node believes in a decision that did not commit.
  for (const node of world.nodes) {
    if (node.known === undefined) continue;
    expect(committed.get(node.known.proposal.epoch)?.has(node.known.hash)).toBe(true);
  }
  return Math.max(0, ...committed.keys());
}

describe('safety under any interleaving', () => {
  it('never commits two decisions for one epoch, from bootstrap on (bootstrap set within 2q-1)', () => {
    let changed = 0;
    fc.assert(
      fc.property(
        fc.constantFrom(
          { count: 3, minimumNodes: 3 },
          { count: 5, minimumNodes: 4 },
          { count: 5, minimumNodes: 5 },
          { count: 3, minimumNodes: 2 },
        ),
        fc.array(fc.constantFrom<RoleMode>('auto', 'auto', 'auto', 'master', 'worker'), {
          minLength: 5,
          maxLength: 5,
        }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(actionArb(5), { minLength: 20, maxLength: 300 }),
        fc.boolean(),
        ({ count, minimumNodes }, modes, masterTarget, actions, warmStart) => {
          expect(2 * majority(minimumNodes) - 1).toBeGreaterThanOrEqual(count);
          const world = new World(modes.slice(0, count), { minimumNodes, masterTarget, masterGraceMs: 1000 });
          // Half the runs start with a few healthy rounds (everyone steps, everything delivered), so
          // the random part also exercises changes after a bootstrap, not only the bootstrap.
          if (warmStart)
            for (let round = 0; round < 3; round++) {
              for (const node of world.nodes) world.step(node);
              world.apply({ kind: 'heal' });
            }
          for (const action of actions) world.apply(action);
          if (checkWorld(world) >= 2) changed++;
        },
      ),
      { numRuns: RUNS },
    );
    // The runs did reach later epochs, so the property covers changes, not only bootstrap.
    expect(changed).toBeGreaterThan(RUNS / 20);
  });

  it('never commits two bootstrap decisions with up to 9 nodes when first records arrive within the sync window', () => {
    let committed = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 4, max: 9 }),
        fc.integer({ min: 2, max: 4 }),
        fc.array(fc.constantFrom<RoleMode>('auto', 'auto', 'auto', 'master', 'worker'), {
          minLength: 9,
          maxLength: 9,
        }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(actionArb(9, true), { minLength: 20, maxLength: 300 }),
        (count, minimumNodes, modes, masterTarget, syncWindow, actions) => {
          const world = new World(
            modes.slice(0, count),
            { minimumNodes, masterTarget, masterGraceMs: 1000 },
            undefined,
            syncWindow,
          );
          for (const action of actions) world.apply(action);
          // Then the network heals and every node keeps stepping: whatever the chaos left
          // behind (votes cast on partial views) meets the votes cast after it.
          for (let round = 0; round < 2 * syncWindow + 4; round++) {
            for (let node = 0; node < count; node++) world.apply({ kind: 'step', node });
            world.apply({ kind: 'heal' });
          }
          if (checkWorld(world) >= 1) committed++;
        },
      ),
      { numRuns: RUNS },
    );
    // Many runs did bootstrap, with more nodes than 2 × majority(minimumNodes) - 1.
    expect(committed).toBeGreaterThan(RUNS / 10);
  });

  it('never commits two decisions for one epoch after bootstrap, with up to 9 nodes', () => {
    let changed = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 4, max: 9 }),
        fc.array(fc.constantFrom<RoleMode>('auto', 'auto', 'auto', 'master', 'worker', 'none'), {
          minLength: 9,
          maxLength: 9,
        }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(actionArb(9), { minLength: 50, maxLength: 400 }),
        (count, modes, masterTarget, actions) => {
          // The bootstrap decision: nodes 0..2, known to every node.
          const proposal: Proposal = {
            epoch: 1,
            baseHash: null,
            initMaster: 'n0',
            initMasterRetired: false,
            masterTarget,
            minimumNodes: 3,
            members: [0, 1, 2].map((index) => ({
              peerId: `n${index}`,
              name: `n${index}`,
              role: index === 0 ? 'master' : 'worker',
            })),
            committee: ['n0', 'n1', 'n2'],
          };
          const d1: Decision = { hash: proposalHash(proposal), proposal };
          const nodeModes = modes.slice(0, count).map((mode, index) => (index === 0 ? 'auto' : mode));
          const world = new World(nodeModes, { minimumNodes: 3, masterTarget, masterGraceMs: 1000 }, d1);
          // Every node has synced the bootstrap votes of n0 and n1 into its (persistent) ledger.
          for (const index of [0, 1]) {
            const author = `n${index}`;
            world.cast.push({ author, epoch: 1, hash: d1.hash, proposal, base: undefined });
            const vote = {
              v: 1 as const,
              name: author,
              mode: nodeModes[index]!,
              epoch: 1,
              hash: d1.hash,
              proposal,
            };
            for (const node of world.nodes) node.records.set(author, { ...vote, seq: 0 });
          }
          for (const action of actions) world.apply(action);
          if (checkWorld(world) >= 3) changed++;
        },
      ),
      { numRuns: RUNS },
    );
    expect(changed).toBeGreaterThan(RUNS / 20);
  });

  it('reaches agreement when messages flow: joins, a lost master replaced within the target', () => {
    const world = new World(['auto', 'auto', 'auto', 'auto', 'auto'], {
      minimumNodes: 3,
      masterTarget: 2,
      masterGraceMs: 1000,
    });
    const flush = (): void => {
      for (let round = 0; round < 12; round++)
        for (let to = 0; to < 5; to++) {
          world.step(world.nodes[to]!);
          for (let from = 0; from < 5; from++) world.apply({ kind: 'deliver', from, to });
        }
    };
    flush();
    const decided = world.nodes.map((node) => node.known?.hash);
    expect(new Set(decided).size).toBe(1);
    const first = world.nodes[0]!.known!.proposal;
    expect(first.members).toHaveLength(5);
    expect(first.members.filter((member) => member.role === 'master')).toHaveLength(2);
    // A non-init master vanishes past its grace: it is replaced, masters stay at 2, the init master stays.
    const gone = first.members.find(
      (member) => member.role === 'master' && member.peerId !== first.initMaster,
    )!;
    const goneIndex = Number(gone.peerId.slice(1));
    world.apply({ kind: 'crash', node: goneIndex });
    for (const node of world.nodes) {
      node.alive = node.alive.filter((peerId) => peerId !== gone.peerId);
      node.lostPeers.add(gone.peerId);
    }
    flush();
    const after = world.nodes[(goneIndex + 1) % 5]!.known!.proposal;
    expect(after.epoch).toBeGreaterThan(first.epoch);
    expect(after.initMaster).toBe(first.initMaster);
    expect(after.members.find((member) => member.peerId === gone.peerId)).toBeUndefined();
    expect(after.members.filter((member) => member.role === 'master')).toHaveLength(2);
    checkWorld(world);
  });
});

describe('latestCommitted', () => {
  it('takes the base of a later vote as committed once votes were overwritten', () => {
    const proposal: Proposal = {
      epoch: 4,
      baseHash: 'x',
      initMaster: 'a',
      initMasterRetired: false,
      masterTarget: 1,
      minimumNodes: 1,
      members: [{ peerId: 'a', name: 'a', role: 'master' }],
      committee: ['a'],
    };
    const base: Decision = { hash: proposalHash(proposal), proposal };
    const records = new Map<string, VoteRecord>([
      [
        'a',
        { v: 1, name: 'a', mode: 'auto', epoch: 5, hash: 'h5', proposal: { ...proposal, epoch: 5 }, base },
      ],
    ]);
    expect(latestCommitted(records)?.hash).toBe(base.hash);
  });
});

describe('proposalHash', () => {
  it('hashes the canonical JSON of the proposal, whatever the key order', () => {
    const proposal: Proposal = {
      epoch: 2,
      baseHash: 'abc',
      initMaster: 'a',
      initMasterRetired: false,
      masterTarget: 1,
      minimumNodes: 3,
      members: [{ peerId: 'a', name: 'n "a"', role: 'master' }],
      committee: ['a'],
    };
    const reordered = Object.fromEntries(Object.entries(proposal).reverse()) as unknown as Proposal;
    const expected = createHash('sha256').update(canonicalJson(proposal)).digest('hex');
    expect(proposalHash(proposal)).toBe(expected);
    expect(proposalHash(reordered)).toBe(expected);
  });
});
