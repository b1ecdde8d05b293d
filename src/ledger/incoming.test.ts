import { beforeAll, describe, expect, it } from 'vitest';
import { buildEntry } from './entry-builder.ts';
import { canonicalJson } from './canonical.ts';
import { SignatureVerifier } from '../shared/peer-keys.ts';
import { Replica } from './replica.ts';
import { FeedWriter } from './feed-writer.ts';
import type { Entry } from './entry.ts';

let alice: FeedWriter;
let bob: FeedWriter;

beforeAll(async () => {
  alice = await FeedWriter.create();
  bob = await FeedWriter.create();
});

function fresh(): Replica {
  return new Replica(new SignatureVerifier());
}

function copy(entry: Entry): Record<string, unknown> {
  return JSON.parse(JSON.stringify(entry)) as Record<string, unknown>;
}

describe('received entries', () => {
  it('accepts a valid feed in order and applies the merge', async () => {
    const writer = await FeedWriter.create();
    const feed = [
      writer.write('put', 'apps', 'a', 1),
      writer.write('put', 'apps', 'a', 2),
      writer.write('del', 'apps', 'b'),
    ];
    const replica = fresh();
    const { accepted } = replica.receive(
      feed.map((candidate) => candidate.entry),
      false,
    );
    expect(accepted).toHaveLength(3);
    expect(replica.items()).toMatchObject([
      { bucket: 'apps', key: 'a', value: 2, seq: 2, author: writer.peerId },
    ]);
  });

  it('rejects a forged value (signature no longer matches)', async () => {
    const writer = await FeedWriter.create();
    const forged = { ...copy(writer.write('put', 'apps', 'a', 1).entry), value: 666 };
    const replica = fresh();
    replica.receive([forged], false);
    expect(replica.counters.rejected.signature).toBe(1);
    expect(replica.items()).toEqual([]);
  });

  it('rejects an entry claiming another author', async () => {
    const writer = await FeedWriter.create();
    const stolen = { ...copy(writer.write('put', 'apps', 'a', 1).entry), author: alice.peerId };
    const replica = fresh();
    replica.receive([stolen], true);
    expect(replica.counters.rejected.signature).toBe(1);
  });

  it('rejects a forged entry hidden inside a valid run, keeping the valid prefix', async () => {
    const writer = await FeedWriter.create();
    const feed = [1, 2, 3, 4].map((value) => copy(writer.write('put', 'apps', `k${value}`, value).entry));
    feed[2] = { ...feed[2], value: 'evil' };
    const replica = fresh();
    replica.receive(feed, true);
    expect(replica.items().map((item) => item.value)).toEqual([1, 2]);
    expect(replica.counters.rejected).toMatchObject({ signature: 1, chain: 1 });
  });

  it('rejects reordered entries (seq rewritten) and waits on holes from gossip', async () => {
    const writer = await FeedWriter.create();
    const [one, two, three] = [1, 2, 3].map((value) => writer.write('put', 'apps', 'k', value).entry);
    const replica = fresh();
    const swapped = { ...copy(three!), seq: 2 };
    replica.receive([one, swapped], false);
    expect(replica.counters.rejected.chain).toBe(1);
    const { waiting } = replica.receive([three], false);
    expect(waiting.has(writer.peerId)).toBe(true);
    expect(replica.head(writer.peerId)?.seq).toBe(1);
    replica.receive([two, three], false);
    expect(replica.head(writer.peerId)?.seq).toBe(3);
  });

  it('rejects truncated and malformed input without throwing', async () => {
    const writer = await FeedWriter.create();
    const entry = copy(writer.write('put', 'apps', 'k', 1).entry);
    const { sig: _sig, ...truncated } = entry;
    const replica = fresh();
    replica.receive(
      [
        truncated,
        null,
        42,
        'text',
        [],
        { ...entry, seq: -1 },
        { ...entry, extra: 1 },
        { ...entry, sig: 'short' },
      ],
      false,
    );
    expect(replica.counters.rejected.malformed).toBe(8);
    expect(replica.items()).toEqual([]);
  });

  it('rejects oversized values even when validly signed', () => {
    const big = buildEntry(alice.signer, undefined, {
      lamport: 1,
      time: 0,
      op: 'put',
      bucket: 'apps',
      key: 'big',
      value: 'x'.repeat(70_000),
    });
    const replica = fresh();
    replica.receive([big.entry], false);
    expect(replica.counters.rejected.oversize).toBe(1);
  });

  it('ignores replayed entries and counts a fork (same seq, other content)', async () => {
    const writer = await FeedWriter.create();
    const first = writer.write('put', 'apps', 'k', 1);
    const second = writer.write('put', 'apps', 'k', 2);
    const replica = fresh();
    replica.receive([first.entry, second.entry], false);
    replica.receive([first.entry, second.entry, second.entry], false);
    expect(replica.counters.duplicates).toBe(3);
    expect(replica.items()[0]?.value).toBe(2);
    const fork = buildEntry(
      writer.signer,
      { seq: 1, hash: first.hash, lamport: 1 },
      {
        lamport: 5,
        time: 0,
        op: 'put',
        bucket: 'apps',
        key: 'k',
        value: 'fork',
      },
    );
    replica.receive([fork.entry], false);
    expect(replica.counters.rejected.fork).toBe(1);
    expect(replica.items()[0]?.value).toBe(2);
  });

  it('enforces write rules on remote entries', () => {
    const bad = buildEntry(bob.signer, undefined, {
      lamport: 1,
      time: 0,
      op: 'put',
      bucket: 'nodes',
      key: alice.peerId,
      value: {},
    });
    const own = buildEntry(bob.signer, undefined, {
      lamport: 1,
      time: 0,
      op: 'put',
      bucket: 'nodes',
      key: bob.peerId,
      value: {},
    });
    const reserved = buildEntry(bob.signer, undefined, {
      lamport: 1,
      time: 0,
      op: 'put',
      bucket: '_x',
      key: 'k',
      value: {},
    });
    const replica = fresh();
    replica.receive([bad.entry, reserved.entry], false);
    expect(replica.counters.rejected.rule).toBe(2);
    replica.receive([own.entry], false);
    expect(replica.items()).toHaveLength(1);
  });

  it('rejects a Lamport clock that does not grow along the feed', () => {
    const first = buildEntry(bob.signer, undefined, {
      lamport: 5,
      time: 0,
      op: 'put',
      bucket: 'a',
      key: 'k',
      value: 1,
    });
    const second = buildEntry(
      bob.signer,
      { seq: 1, hash: first.hash, lamport: 5 },
      {
        lamport: 5,
        time: 0,
        op: 'put',
        bucket: 'a',
        key: 'k',
        value: 2,
      },
    );
    const replica = fresh();
    replica.receive([first.entry, second.entry], false);
    expect(replica.counters.rejected.lamport).toBe(1);
  });

  it('encodes canonically: field order does not change the encoding', async () => {
    const writer = await FeedWriter.create();
    const { entry, encoded } = writer.write('put', 'apps', 'k', { b: [1, { z: 1, a: 2 }], a: 'x' });
    const reversed = Object.fromEntries(Object.entries(copy(entry)).reverse());
    expect(canonicalJson(reversed)).toBe(encoded);
    expect(JSON.parse(encoded)).toEqual(entry);
  });

  it('hands out values in canonical key order whatever order the sender used', async () => {
    const writer = await FeedWriter.create();
    const { entry } = writer.write('put', 'apps', 'k', { a: 1, b: { d: 1, c: 2 } });
    const shuffled = { ...copy(entry), value: { b: { c: 2, d: 1 }, a: 1 } };
    const replica = fresh();
    replica.receive([shuffled], false);
    expect(JSON.stringify(replica.items()[0]?.value)).toBe('{"a":1,"b":{"c":2,"d":1}}');
  });
});
