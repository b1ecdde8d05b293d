import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { PeerSigner, SignatureVerifier } from '../shared/peer-keys.ts';
import { beats } from './merge.ts';
import { Replica } from './replica.ts';
import { FeedWriter } from './feed-writer.ts';
import type { Candidate } from './feed-check.ts';

let signers: PeerSigner[];
const verifier = new SignatureVerifier();

beforeAll(async () => {
  signers = await Promise.all([0, 1, 2].map(async () => new PeerSigner(await generateKeyPair('Ed25519'))));
});

const writeArb = fc.record({
  writer: fc.nat(2),
  key: fc.nat(3),
  del: fc.boolean(),
  value: fc.integer({ min: 0, max: 9 }),
  observe: fc.nat(),
});

type Write = { writer: number; key: number; del: boolean; value: number; observe: number };

const deliveryArb = fc.array(
  fc.record({ order: fc.double({ noNaN: true }), copies: fc.integer({ min: 1, max: 3 }) }),
  {
    minLength: 60,
    maxLength: 60,
  },
);

/** Builds the writers' feeds: before each write, a writer may have seen an earlier entry's clock. */
function buildFeeds(writes: Write[]): Candidate[] {
  const writers = signers.map((signer) => new FeedWriter(signer));
  const all: Candidate[] = [];
  for (const write of writes) {
    const writer = writers[write.writer]!;
    if (all.length > 0) writer.observe(all[write.observe % all.length]!.entry.lamport);
    all.push(writer.write(write.del ? 'del' : 'put', 'b', `k${write.key}`, write.del ? null : write.value));
  }
  return all;
}

/** The expected state: per key the (lamport, author)-greatest entry, live when it is a put. */
function oracle(all: Candidate[]): { key: string; value: unknown; author: string; seq: number }[] {
  const winners = new Map<string, Candidate>();
  for (const candidate of all) {
    const current = winners.get(candidate.entry.key);
    if (current === undefined || beats(candidate.entry, current.entry))
      winners.set(candidate.entry.key, candidate);
  }
  return [...winners.values()]
    .filter((candidate) => candidate.entry.op === 'put')
    .map(({ entry }) => ({ key: entry.key, value: entry.value, author: entry.author, seq: entry.seq }))
    .sort((a, b) => (a.key < b.key ? -1 : 1));
}

describe('deterministic merge', () => {
  it('gives the same state for the same entries whatever the order, batching and duplication', () => {
    fc.assert(
      fc.property(
        fc.array(writeArb, { minLength: 1, maxLength: 40 }),
        fc.array(deliveryArb, { minLength: 3, maxLength: 3 }),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 3, maxLength: 3 }),
        (writes, deliveries, batchSizes) => {
          const all = buildFeeds(writes);
          const reference = new Replica(verifier);
          reference.receive(
            all.map((candidate) => candidate.entry),
            false,
          );
          expect(reference.entryCount()).toBe(all.length);
          const expected = oracle(all);
          const replicas = deliveries.map((delivery, index) => {
            const replica = new Replica(verifier);
            const schedule = all
              .flatMap((candidate, position) => {
                const plan = delivery[position % delivery.length]!;
                return Array.from({ length: plan.copies }, (_, copy) => ({
                  candidate,
                  order: plan.order + copy * 0.37,
                }));
              })
              .sort((a, b) => a.order - b.order);
            const size = batchSizes[index]!;
            for (let start = 0; start < schedule.length; start += size)
              replica.receive(
                schedule.slice(start, start + size).map((item) => item.candidate.entry),
                false,
              );
            // Anti-entropy: whatever gossip left waiting arrives by version vector.
            replica.receive(reference.entriesMissingFrom(replica.vector()), true);
            return replica;
          });
          for (const replica of replicas) {
            expect(replica.vector()).toEqual(reference.vector());
            expect(replica.items()).toEqual(reference.items());
            expect(replica.counters.rejected).toEqual(reference.counters.rejected);
          }
          expect(
            reference.items().map(({ key, value, author, seq }) => ({ key, value, author, seq })),
          ).toEqual(expected);
        },
      ),
      { seed: 20261125, numRuns: 150 },
    );
  });
});
