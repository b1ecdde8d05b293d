import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { gossipsub } from '@libp2p/gossipsub';
import { identify } from '@libp2p/identify';
import { tcp } from '@libp2p/tcp';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { lpStream } from '@libp2p/utils';
import type { PrivateKey } from '@libp2p/interface';
import { createLibp2p } from 'libp2p';
import { silentLogger } from '../src/shared/logger.ts';
import {
  createLibp2pLedgerTransport,
  Ledger,
  LEDGER_SYNC_PROTOCOL,
  type Libp2pLedgerNode,
} from '../src/ledger/index.ts';
import { FeedWriter } from '../src/ledger/feed-writer.ts';
import { PeerSigner } from '../src/shared/peer-keys.ts';

const TOPIC = 'kairos-mesh/test/ledger';

async function newNode(privateKey: PrivateKey): Promise<Libp2pLedgerNode> {
  return createLibp2p({
    privateKey,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { inboundConnectionThreshold: 1_000 },
    services: {
      identify: identify(),
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, scoreParams: { IPColocationFactorWeight: 0 } }),
    },
  });
}

interface Honest {
  node: Libp2pLedgerNode;
  ledger: Ledger;
  dir: string;
}

const honest: Honest[] = [];
let hostile: Libp2pLedgerNode;

async function until(check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

beforeAll(async () => {
  for (let index = 0; index < 3; index += 1) {
    const privateKey = await generateKeyPair('Ed25519');
    const node = await newNode(privateKey);
    const dir = await mkdtemp(join(tmpdir(), 'kml-p2p-'));
    const ledger = new Ledger({
      path: dir,
      privateKey,
      transport: createLibp2pLedgerTransport(node, { isAdmitted: () => true }),
      topic: TOPIC,
      log: silentLogger(),
      syncIntervalMs: 1_000,
      compactIntervalMs: 0,
    });
    await ledger.start();
    honest.push({ node, ledger, dir });
  }
  hostile = await newNode(await generateKeyPair('Ed25519'));
  // A peer in the mesh that answers every sync with a lying vector and forged entries.
  await hostile.handle(
    LEDGER_SYNC_PROTOCOL,
    async (stream) => {
      const lp = lpStream(stream);
      try {
        await lp.read();
        const vector = Object.fromEntries(
          honest.map(({ ledger }) => [ledger.selfId, { seq: 1_000_000, hash: '0'.repeat(64) }]),
        );
        await lp.write(Buffer.from(JSON.stringify({ t: 'vector', vector })));
        await lp.read();
        const forged = honest.map(({ ledger }, index) => ({
          author: ledger.selfId,
          seq: 1,
          prev: null,
          lamport: 99,
          time: 0,
          op: 'put',
          bucket: 'apps',
          key: `forged-${index}`,
          value: 'evil',
          sig: 'A'.repeat(86),
        }));
        await lp.write(
          Buffer.from(JSON.stringify({ t: 'entries', entries: [...forged, 'garbage', { x: 1 }] })),
        );
        await lp.write(Buffer.from(JSON.stringify({ t: 'end', more: false })));
        await stream.close();
      } catch {
        stream.abort(new Error('hostile done'));
      }
    },
    { runOnLimitedConnection: true },
  );
  hostile.services.pubsub.subscribe(TOPIC);
  // Line: 0 - 1 - 2, plus the hostile peer connected to everybody.
  await honest[0]!.node.dial(honest[1]!.node.getMultiaddrs());
  await honest[1]!.node.dial(honest[2]!.node.getMultiaddrs());
  for (const { node } of honest) await hostile.dial(node.getMultiaddrs());
}, 60_000);

afterAll(async () => {
  for (const { ledger } of honest) await ledger.stop();
  for (const { node } of honest) await node.stop();
  await hostile?.stop();
  for (const { dir } of honest) await rm(dir, { recursive: true, force: true });
});

describe('ledger over real libp2p (3 honest nodes + 1 hostile)', () => {
  it('replicates by push and pull while a hostile peer floods forged entries', async () => {
    const [a, b, c] = honest as [Honest, Honest, Honest];
    const stopFlood = new AbortController();
    const impostor = new PeerSigner(await generateKeyPair('Ed25519'));
    let floods = 0;
    const flood = (async () => {
      while (!stopFlood.signal.aborted) {
        // Each message: feeds of fresh writers with a tampered first entry (a signature
        // failure each), entries claiming an honest author, out-of-order ones, garbage.
        const forged: unknown[] = [];
        for (let index = 0; index < 10; index += 1) {
          const victim = await FeedWriter.create();
          for (let seq = 1; seq <= 5; seq += 1) {
            const real = victim.write('put', 'apps', `k${floods}-${index}`, seq).entry;
            forged.push(
              { ...real, value: 'tampered' },
              { ...real, author: a.ledger.selfId },
              { ...real, author: impostor.peerId, seq: 7 },
              { nonsense: true },
            );
          }
        }
        await hostile.services.pubsub.publish(
          TOPIC,
          Buffer.from(JSON.stringify({ t: 'entries', entries: forged })),
        );
        await hostile.services.pubsub.publish(TOPIC, Buffer.from('{not json'));
        floods += 1;
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();

    await until(() => honest.every(({ ledger }) => ledger.stats().rejected.signature > 100), 20_000);
    // Push: a few single writes on each node reach the others over gossip.
    await until(() => a.node.services.pubsub.getSubscribers(TOPIC).length >= 2, 20_000);
    await a.ledger.put('apps', 'from-a', 1);
    await c.ledger.put('apps', 'from-c', 3);
    // Pull: a batch much larger than one gossip message window, plus entries written
    // by b before c ever heard of it.
    await a.ledger.putMany(
      Array.from({ length: 2_000 }, (_, index) => ({
        op: 'put' as const,
        bucket: 'bulk',
        key: `k${index}`,
        value: index,
      })),
    );
    await b.ledger.put('nodes', b.ledger.selfId, { name: 'b' });

    const expectedEntries = 2_003;
    await until(() => honest.every(({ ledger }) => ledger.stats().entries === expectedEntries), 30_000);
    stopFlood.abort();
    await flood;

    const reference = a.ledger.list();
    expect(reference).toHaveLength(expectedEntries);
    for (const { ledger } of honest) {
      expect(ledger.list()).toEqual(reference);
      expect(ledger.versionVector()).toEqual(a.ledger.versionVector());
      expect(ledger.get('apps', 'forged-0')).toBeUndefined();
      expect(await ledger.verify()).toMatchObject({ entries: expectedEntries, invalid: 0 });
    }
    const rejected = honest.map(({ ledger }) => ledger.stats().rejected);
    expect(floods).toBeGreaterThan(5);
    expect(rejected.every((counts) => counts.signature + counts.malformed > 0)).toBe(true);
  }, 60_000);

  it('a node that joins late catches up by pull (gossip never replays)', async () => {
    const privateKey = await generateKeyPair('Ed25519');
    const node = await newNode(privateKey);
    const dir = await mkdtemp(join(tmpdir(), 'kml-p2p-'));
    const ledger = new Ledger({
      path: dir,
      privateKey,
      transport: createLibp2pLedgerTransport(node, { isAdmitted: () => true }),
      topic: TOPIC,
      log: silentLogger(),
      syncIntervalMs: 0,
      compactIntervalMs: 0,
    });
    await ledger.start();
    honest.push({ node, ledger, dir });
    const c = honest[2]!;
    await node.dial(c.node.getMultiaddrs());
    await until(() => ledger.stats().entries === c.ledger.stats().entries, 30_000);
    expect(ledger.list()).toEqual(c.ledger.list());
    expect(c.ledger.stats().entriesServed).toBeGreaterThanOrEqual(2_003);
    expect(ledger.stats().syncsStarted).toBeGreaterThan(0);
  }, 60_000);
});
