import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ClassicLevel } from 'classic-level';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { silentLogger } from '../shared/logger.ts';
import { KairosError } from '../shared/errors.ts';
import { FeedWriter } from './feed-writer.ts';
import { Ledger } from './ledger.ts';
import { MemoryNetwork } from './memory-transport.ts';
import { LEDGER_SYNC_PROTOCOL, offlineTransport } from './transport.ts';
import { lpStream } from '@libp2p/utils';
import type { StateChange } from './merge.ts';

const dirs: string[] = [];
const ledgers: Ledger[] = [];

afterEach(async () => {
  for (const ledger of ledgers.splice(0)) await ledger.stop();
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function newLedger(
  network?: MemoryNetwork,
  options: {
    dir?: string;
    key?: Awaited<ReturnType<typeof generateKeyPair>>;
    maxEntriesPerSync?: number;
    now?: () => number;
  } = {},
) {
  const privateKey = options.key ?? (await generateKeyPair('Ed25519'));
  const selfId = peerIdFromPrivateKey(privateKey).toString();
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'kml-')));
  if (options.dir === undefined) dirs.push(dir);
  const ledger = new Ledger({
    path: dir,
    privateKey,
    transport: network === undefined ? offlineTransport(selfId) : network.join(selfId),
    topic: 'test-ledger',
    log: silentLogger(),
    syncIntervalMs: 0,
    compactIntervalMs: 0,
    ...(options.maxEntriesPerSync === undefined ? {} : { maxEntriesPerSync: options.maxEntriesPerSync }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  await ledger.start();
  ledgers.push(ledger);
  return { ledger, privateKey, dir, selfId };
}

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('Ledger (single node)', () => {
  it('puts, gets, lists, deletes and keeps history', async () => {
    const { ledger, selfId } = await newLedger();
    const changes: StateChange[] = [];
    ledger.subscribe((change) => changes.push(change));
    await ledger.put('apps', 'web', { replicas: 2 });
    await ledger.put('apps', 'db', 'postgres');
    await ledger.put('apps', 'web', { replicas: 3 });
    expect(ledger.get('apps', 'web')?.value).toEqual({ replicas: 3 });
    expect(ledger.list('apps').map((item) => item.key)).toEqual(['db', 'web']);
    await ledger.del('apps', 'db');
    expect(ledger.get('apps', 'db')).toBeUndefined();
    expect(ledger.list().map((item) => item.key)).toEqual(['web']);
    const history = await ledger.history('apps', 'web');
    expect(history.map((entry) => entry.value)).toEqual([{ replicas: 2 }, { replicas: 3 }]);
    expect(changes.map((change) => [change.key, change.deleted])).toEqual([
      ['web', false],
      ['db', false],
      ['web', false],
      ['db', true],
    ]);
    await ledger.put('nodes', selfId, { name: 'n1' });
    expect(ledger.stats()).toMatchObject({ entries: 5, authors: 1, keys: 2, tombstones: 1, ownSeq: 5 });
    expect(await ledger.verify()).toEqual({ entries: 5, authors: 1, valid: 5, invalid: 0, holes: 0 });
  });

  it('refuses writes that break a rule with one clear line', async () => {
    const { ledger } = await newLedger();
    await expect(ledger.put('nodes', 'someone-else', {})).rejects.toThrow(
      "bucket nodes: key must be this node's peer id",
    );
    await expect(ledger.put('_system', 'x', 1)).rejects.toThrow('reserved');
    await expect(ledger.put('bad bucket', 'x', 1)).rejects.toBeInstanceOf(KairosError);
    await expect(ledger.put('ops', 'big', 'x'.repeat(70_000))).rejects.toThrow('limit is 65536');
    const error = await ledger.put('vpn', 'x', 1).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'LEDGER_WRITE_REFUSED', exitCode: 77 });
    await ledger.put('roles-override', 'any-node', { role: 'worker' });
    expect(ledger.stats().ownSeq).toBe(1);
  });

  it('keeps every acknowledged entry and the state across a restart', async () => {
    const first = await newLedger();
    await first.ledger.putMany(
      Array.from({ length: 50 }, (_, index) => ({
        op: 'put' as const,
        bucket: 'b',
        key: `k${index % 10}`,
        value: index,
      })),
    );
    await first.ledger.stop();
    ledgers.splice(ledgers.indexOf(first.ledger), 1);
    const again = await newLedger(undefined, { dir: first.dir, key: first.privateKey });
    expect(again.ledger.stats()).toMatchObject({ entries: 50, ownSeq: 50, lamport: 50 });
    expect(again.ledger.get('b', 'k3')?.value).toBe(43);
    const next = await again.ledger.put('b', 'k3', 'new');
    expect(next.seq).toBe(51);
    expect(next.lamport).toBe(51);
  });

  it('stores received entries, shown before their writes finished, by the time it stops', async () => {
    const first = await newLedger();
    const remote = await FeedWriter.create();
    // Each arrives on its own, as gossip does: twenty commits queue behind one another.
    const arrivals = Array.from({ length: 20 }, (_, index) => {
      const { encoded } = remote.write('put', 'b', `k${index % 5}`, index);
      return first.ledger.ingest([JSON.parse(encoded)], false);
    });
    await Promise.all(arrivals);
    expect(first.ledger.get('b', 'k4')?.value).toBe(19);
    const before = first.ledger.list();
    await first.ledger.stop();
    ledgers.splice(ledgers.indexOf(first.ledger), 1);
    const again = await newLedger(undefined, { dir: first.dir, key: first.privateKey });
    expect(again.ledger.stats()).toMatchObject({ entries: 20, authors: 1 });
    expect(again.ledger.versionVector()[remote.peerId]?.seq).toBe(20);
    expect(again.ledger.list()).toEqual(before);
    expect(await again.ledger.verify()).toMatchObject({ valid: 20, invalid: 0, holes: 0 });
  });

  it('verify finds an entry tampered with on disk', async () => {
    const first = await newLedger();
    await first.ledger.putMany(
      Array.from({ length: 20 }, (_, index) => ({
        op: 'put' as const,
        bucket: 'b',
        key: `k${index}`,
        value: index,
      })),
    );
    await first.ledger.stop();
    ledgers.splice(ledgers.indexOf(first.ledger), 1);
    const db = new ClassicLevel<string, string>(first.dir, { valueEncoding: 'utf8' });
    const entries = db.sublevel<string, string>('e', { valueEncoding: 'utf8' });
    const keys = await entries.keys().all();
    const victim = keys[10]!;
    await entries.put(victim, (await entries.get(victim))!.replace('"value":10', '"value":11'));
    await db.close();
    const again = await newLedger(undefined, { dir: first.dir, key: first.privateKey });
    const report = await again.ledger.verify();
    expect(report.entries).toBe(20);
    expect(report.invalid).toBeGreaterThan(0);
    expect(report.valid).toBe(10);
  });

  it('compacts superseded entries while heads and state stay verifiable', async () => {
    const { ledger } = await newLedger();
    for (let round = 0; round < 5; round += 1)
      await ledger.putMany(
        ['a', 'b', 'c'].map((key) => ({ op: 'put' as const, bucket: 'b', key, value: round })),
      );
    await ledger.del('b', 'a');
    await ledger.put('other', 'x', 1);
    const before = ledger.list();
    expect(await ledger.compact()).toBe(13);
    expect(ledger.list()).toEqual(before);
    expect(ledger.stats().entries).toBe(4);
    expect(await ledger.verify()).toMatchObject({ entries: 4, valid: 4, invalid: 0, holes: 1 });
    expect((await ledger.put('b', 'c', 'after')).seq).toBe(18);
  });
});

describe('Ledger replication (in-memory transport)', () => {
  it('pushes new entries by gossip', async () => {
    const network = new MemoryNetwork();
    const a = await newLedger(network);
    const b = await newLedger(network);
    await a.ledger.put('apps', 'x', 1);
    await until(() => b.ledger.get('apps', 'x')?.value === 1);
    expect(b.ledger.get('apps', 'x')?.author).toBe(a.selfId);
  });

  it('syncs with a new peer again a few seconds after it joined, for the gossip that passed it by', async () => {
    const network = new MemoryNetwork();
    const a = await newLedger(network);
    const b = await newLedger(network);
    network.loseGossip = true; // as while gossipsub has not grafted the new peer yet
    await a.ledger.put('apps', 'x', 1);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(b.ledger.get('apps', 'x')).toBeUndefined();
    await until(() => b.ledger.get('apps', 'x')?.value === 1, 4_000);
  });

  it('has a put whose gossip reached no peer pulled back by a peer at once', async () => {
    const network = new MemoryNetwork();
    network.gossip = false;
    const a = await newLedger(network);
    const b = await newLedger(network);
    await a.ledger.put('apps', 'x', 1);
    await until(() => b.ledger.get('apps', 'x')?.value === 1, 2_000);
  });

  it('pushes the few entries the peer lacks with a pull from it, so the peer need not pull back', async () => {
    const network = new MemoryNetwork();
    network.loseGossip = true;
    const a = await newLedger(network);
    const b = await newLedger(network);
    // The syncs each starts when it meets the other, then quiet.
    await until(() => a.ledger.stats().syncsStarted >= 1 && b.ledger.stats().syncsStarted >= 1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const pullsByA = a.ledger.stats().syncsStarted;
    await b.ledger.put('apps', 'x', 1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(a.ledger.get('apps', 'x')).toBeUndefined(); // its gossip was lost
    b.ledger.requestSync(a.selfId);
    await until(() => a.ledger.get('apps', 'x')?.value === 1, 2_000);
    expect(a.ledger.stats().syncsStarted).toBe(pullsByA);
  });

  it('pulls missing entries by version vector when gossip is lost, also both ways', async () => {
    const network = new MemoryNetwork();
    network.gossip = false;
    const a = await newLedger(network);
    const b = await newLedger(network);
    await a.ledger.putMany(
      Array.from({ length: 3000 }, (_, index) => ({
        op: 'put' as const,
        bucket: 'a',
        key: `k${index}`,
        value: index,
      })),
    );
    await b.ledger.put('b', 'only-on-b', true);
    b.ledger.requestSync(a.selfId);
    await until(() => b.ledger.stats().entries === 3001 && a.ledger.stats().entries === 3001);
    expect(b.ledger.list()).toEqual(a.ledger.list());
    expect(b.ledger.versionVector()).toEqual(a.ledger.versionVector());
  });

  it('gossips on the fresh entries a pull brought (news the author could not push), not old ones', async () => {
    const network = new MemoryNetwork();
    network.gossip = false; // nothing is delivered, as when the author put before it had peers
    const author = await newLedger(network);
    await author.ledger.put('apps', 'a', 1);
    const fresh = await newLedger(network);
    const late = await newLedger(network, { now: () => Date.now() + 60_000 });
    fresh.ledger.requestSync(author.selfId);
    late.ledger.requestSync(author.selfId);
    await until(() => fresh.ledger.stats().entries === 1 && late.ledger.stats().entries === 1);
    await until(() => fresh.ledger.stats().gossipSent === 1);
    // To a node whose clock says a minute later, the same entry is a catch-up: not gossiped on.
    expect(late.ledger.stats().gossipSent).toBe(0);
  });

  it('tells since when it holds everything a peer held: the start of a pull that covered it', async () => {
    const network = new MemoryNetwork();
    network.loseGossip = true;
    const a = await newLedger(network);
    const b = await newLedger(network);
    const c = await newLedger(network, { maxEntriesPerSync: 2 });
    await a.ledger.putMany(
      [1, 2, 3, 4, 5].map((value) => ({ op: 'put', bucket: 'a', key: `k${value}`, value })),
    );
    const covers: string[] = [];
    b.ledger.onCovered((peerId) => covers.push(peerId));
    const pulled = Date.now();
    b.ledger.requestSync(a.selfId);
    await until(() => (b.ledger.coveredSince(a.selfId) ?? 0) >= pulled);
    expect(b.ledger.stats().entries).toBe(5);
    expect(covers).toContain(a.selfId);
    const sinceA = b.ledger.coveredSince(a.selfId);
    // A put no pull saw: b lacks it, and still dates its cover of a before it.
    await a.ledger.put('a', 'later', 6);
    expect(b.ledger.get('a', 'later')).toBeUndefined();
    expect(b.ledger.coveredSince(a.selfId)).toBe(sinceA);
    const later = Date.now();
    c.ledger.requestSync(a.selfId);
    await until(() => c.ledger.get('a', 'later') !== undefined);
    // c answers 2 entries at a time: b's pull takes several rounds and covers c at the end.
    b.ledger.requestSync(c.selfId);
    await until(() => (b.ledger.coveredSince(c.selfId) ?? 0) >= later);
    expect(b.ledger.get('a', 'later')?.value).toBe(6);
  });

  it('covers the peers of a peer asked to refresh first, from the start of its own pull', async () => {
    const network = new MemoryNetwork();
    network.loseGossip = true;
    const a = await newLedger(network);
    const hub = await newLedger(network);
    const c = await newLedger(network);
    await c.ledger.put('apps', 'from-c', 1);
    const asked = Date.now();
    // a asks only the hub; the hub pulls from c before it answers.
    a.ledger.requestSync(hub.selfId, true, true);
    await until(() => (a.ledger.coveredSince(c.selfId) ?? 0) >= asked);
    expect(a.ledger.get('apps', 'from-c')?.value).toBe(1);
    expect(a.ledger.coveredSince(hub.selfId)).toBeGreaterThanOrEqual(asked);
    // A plain pull from the hub says nothing of c.
    const plain = Date.now();
    a.ledger.requestSync(hub.selfId, true);
    await until(() => (a.ledger.coveredSince(hub.selfId) ?? 0) >= plain);
    expect(a.ledger.coveredSince(c.selfId)).toBeLessThan(plain);
  });

  it('runs an urgent pull at once while slow pulls hold every slot', async () => {
    const network = new MemoryNetwork();
    // Two peers that never answer a sync: b's pulls from them on its start hold both slots.
    for (const id of ['hang-1', 'hang-2'])
      await network.join(id).handle(LEDGER_SYNC_PROTOCOL, () => undefined);
    const b = await newLedger(network);
    const c = await newLedger(network);
    await c.ledger.put('c', 'k', 1);
    b.ledger.requestSync(c.selfId);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(b.ledger.coveredSince(c.selfId)).toBeUndefined();
    b.ledger.requestSync(c.selfId, true);
    await until(() => b.ledger.coveredSince(c.selfId) !== undefined);
    expect(b.ledger.get('c', 'k')?.value).toBe(1);
  });

  it('queues urgent pulls past their extra slots ahead of the others', async () => {
    const network = new MemoryNetwork();
    // 18 peers that drop every sync after 300 ms: with 2 + 16 pulls from them, every slot is taken.
    const slow = Array.from({ length: 18 }, (_, index) => `slow-${index}`);
    for (const id of slow)
      await network.join(id).handle(LEDGER_SYNC_PROTOCOL, (stream) => {
        setTimeout(() => stream.abort(new Error('dropped')), 300);
      });
    const b = await newLedger(network);
    for (const id of slow) b.ledger.requestSync(id, true);
    const c = await newLedger(network);
    const d = await newLedger(network);
    const covers: string[] = [];
    b.ledger.onCovered((peerId) => covers.push(peerId));
    b.ledger.requestSync(d.selfId);
    b.ledger.requestSync(c.selfId, true);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(covers).toEqual([]);
    await until(() => covers.includes(c.selfId) && covers.includes(d.selfId));
    expect(covers.indexOf(c.selfId)).toBeLessThan(covers.indexOf(d.selfId));
  });

  it('repairs a gossip gap by pulling', async () => {
    const network = new MemoryNetwork();
    const a = await newLedger(network);
    const b = await newLedger(network);
    // b's first pull from a (at admission) ends before 'one' exists, and the gossip of 'one' is
    // lost on the way (a believes it went out, so it syncs with no one): b hears of 'two' first.
    await until(() => b.ledger.coveredSince(a.selfId) !== undefined);
    network.loseGossip = true;
    await a.ledger.put('g', 'one', 1);
    network.loseGossip = false;
    await a.ledger.put('g', 'two', 2);
    await until(() => b.ledger.get('g', 'one') !== undefined && b.ledger.get('g', 'two') !== undefined);
    expect(b.ledger.stats().deferred).toBeGreaterThan(0);
  });

  it('pulls by datagram, and the newest own entries a pull pushes never leave a hole', async () => {
    const network = new MemoryNetwork();
    network.datagrams = true;
    const a = await newLedger(network);
    const b = await newLedger(network);
    await until(
      () => b.ledger.coveredSince(a.selfId) !== undefined && a.ledger.coveredSince(b.selfId) !== undefined,
    );
    network.loseGossip = true; // a believes its gossip went out: b holds none of these
    for (let i = 0; i < 40; i += 1) await a.ledger.put('h', `k${i}`, i);
    network.loseGossip = false;
    // a's pull from b pushes a's 16 newest entries, which do not follow what b holds of a:
    // taken in, they would leave a hole that b's vector hides from every later pull.
    await a.ledger.syncWith(b.selfId);
    // b's own pull by datagram brings them all (they fit one answer), and covers a.
    const before = b.ledger.coveredSince(a.selfId)!;
    await b.ledger.syncWith(a.selfId);
    expect(b.ledger.versionVector()[a.selfId]?.seq).toBe(a.ledger.stats().ownSeq);
    expect(b.ledger.list('h')).toHaveLength(40);
    expect(b.ledger.coveredSince(a.selfId)).toBeGreaterThanOrEqual(before);
    expect(await b.ledger.verify()).toMatchObject({ invalid: 0, holes: 0 });
  });

  it('syncs respecting the per-request cap and from a compacted peer', async () => {
    const network = new MemoryNetwork();
    network.gossip = false;
    const a = await newLedger(network);
    for (let round = 0; round < 3; round += 1)
      await a.ledger.putMany(
        Array.from({ length: 200 }, (_, index) => ({
          op: 'put' as const,
          bucket: 'c',
          key: `k${index}`,
          value: round,
        })),
      );
    expect(await a.ledger.compact()).toBe(400);
    const a2 = await newLedger(network, { maxEntriesPerSync: 30 });
    await a2.ledger.putMany(
      Array.from({ length: 100 }, (_, index) => ({
        op: 'put' as const,
        bucket: 'd',
        key: `k${index}`,
        value: 1,
      })),
    );
    const b = await newLedger(network);
    b.ledger.requestSync(a2.selfId);
    // a2 answers at most 30 entries per request: b keeps asking until it has all 100.
    await until(() => b.ledger.versionVector()[a2.selfId]?.seq === 100);
    expect(b.ledger.stats().syncsStarted).toBeGreaterThanOrEqual(4);
    expect(a2.ledger.stats().entriesServed).toBeGreaterThanOrEqual(100);
    b.ledger.requestSync(a.selfId);
    await until(() => b.ledger.stats().ownSeq === 0 && b.ledger.versionVector()[a.selfId]?.seq === 600);
    expect(b.ledger.list('c')).toEqual(a.ledger.list('c'));
    expect(b.ledger.stats().entries).toBe(300);
    expect(await b.ledger.verify()).toMatchObject({ invalid: 0, holes: 1 });
  });

  it('comes back with its state after the whole cluster is powered off and on', async () => {
    const network = new MemoryNetwork();
    const nodes = [await newLedger(network), await newLedger(network), await newLedger(network)];
    for (const [index, node] of nodes.entries())
      await node.ledger.putMany(
        Array.from({ length: 30 }, (_, item) => ({
          op: 'put' as const,
          bucket: 'x',
          key: `k${item}`,
          value: index,
        })),
      );
    await until(() => nodes.every((node) => node.ledger.stats().entries === 90));
    const before = nodes[0]!.ledger.list();
    for (const node of nodes) {
      await node.ledger.stop();
      ledgers.splice(ledgers.indexOf(node.ledger), 1);
      network.leave(node.selfId);
    }
    const again: Awaited<ReturnType<typeof newLedger>>[] = [];
    for (const node of nodes) again.push(await newLedger(network, { dir: node.dir, key: node.privateKey }));
    for (const node of again) expect(node.ledger.list()).toEqual(before);
    await again[1]!.ledger.put('x', 'k0', 'after restart');
    await until(() => again.every((node) => node.ledger.get('x', 'k0')?.value === 'after restart'));
  });

  it('has a sync request wait for a serve slot while all are busy, not refused', async () => {
    const network = new MemoryNetwork();
    network.gossip = false;
    const a = await newLedger(network);
    await a.ledger.put('apps', 'x', 1);
    // Sixteen requests that never get past their hello hold every serve slot of `a`.
    const idle = network.join('12D3KooWRUaTXjfhPyY8de2GxfApnvqL7mmXVChjQd5wnvpGDThc');
    const signal = AbortSignal.timeout(10_000);
    const held = [];
    for (let slot = 0; slot < 16; slot += 1) {
      const stream = await idle.dialProtocol(a.selfId, LEDGER_SYNC_PROTOCOL, signal);
      await lpStream(stream).write(Buffer.from('{"t":"hello","digest":"x"}'), { signal });
      held.push(stream);
    }
    const b = await newLedger(network);
    b.ledger.requestSync(a.selfId);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(b.ledger.get('apps', 'x')).toBeUndefined();
    held[0]!.abort(new Error('gone'));
    // Its request waited and is served (refused, nothing would pull again: no anti-entropy here).
    await until(() => b.ledger.get('apps', 'x')?.value === 1, 2_000);
    for (const stream of held) stream.abort(new Error('done'));
  });

  it('survives a hostile sync client (garbage, lies, absurd ranges) and keeps serving', async () => {
    const network = new MemoryNetwork();
    network.gossip = false;
    const a = await newLedger(network);
    await a.ledger.putMany(
      Array.from({ length: 50 }, (_, index) => ({
        op: 'put' as const,
        bucket: 'h',
        key: `k${index}`,
        value: index,
      })),
    );
    const hostile = network.join('12D3KooWRUaTXjfhPyY8de2GxfApnvqL7mmXVChjQd5wnvpGDThc');
    const signal = AbortSignal.timeout(5_000);
    const attempts: Uint8Array[][] = [
      [Buffer.from('not json')],
      [Buffer.from('[1,2,3]')],
      [Buffer.from('{"t":"want"}')],
      [
        Buffer.from('{"t":"hello","digest":"x"}'),
        Buffer.from(
          JSON.stringify({
            t: 'want',
            vector: {},
            ranges: Array.from({ length: 5_000 }, (_, index) => ({
              author: `nobody${index}`,
              from: 1,
              to: 1e12,
            })),
          }),
        ),
        Buffer.from('{"t":"credit","n":1000000}'),
      ],
      [Buffer.from('{"t":"hello","digest":"x"}'), Buffer.from('{"t":"want","ranges":"lots","vector":{}}')],
    ];
    for (const frames of attempts) {
      const stream = await hostile.dialProtocol(a.selfId, LEDGER_SYNC_PROTOCOL, signal);
      const lp = lpStream(stream);
      for (const frame of frames) await lp.write(frame, { signal });
      // The server answers (vector, end) or aborts; either way the stream ends.
      await (async () => {
        for (;;) await lp.read({ signal });
      })().catch(() => undefined);
    }
    const b = await newLedger(network);
    b.ledger.requestSync(a.selfId);
    await until(() => b.ledger.stats().entries === 50);
    expect(b.ledger.list()).toEqual(a.ledger.list());
  });
});
