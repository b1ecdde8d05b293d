/**
 * Ledger throughput: signed + persisted appends per second (sequential: each put fsynced alone;
 * batched: putMany of BATCH), RSS with ENTRIES entries, and the catch-up time of a fresh node
 * pulling all ENTRIES from a peer over real libp2p (TCP + Noise + Yamux on 127.0.0.1).
 *   npx node bench/ledger-throughput/run.ts [--entries 100000] [--batch 1000] [--sequential 2000]
 * Prints one JSON object.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { gossipsub } from '@libp2p/gossipsub';
import { identify } from '@libp2p/identify';
import type { PrivateKey } from '@libp2p/interface';
import { tcp } from '@libp2p/tcp';
import { createLibp2p } from 'libp2p';
import { createLibp2pLedgerTransport, Ledger, type Libp2pLedgerNode } from '../../src/ledger/index.ts';
import { silentLogger } from '../../src/shared/logger.ts';
import { loadAverage, sampleProcess } from '../lib/proc.ts';

const { values } = parseArgs({
  options: {
    entries: { type: 'string', default: '100000' },
    batch: { type: 'string', default: '1000' },
    sequential: { type: 'string', default: '2000' },
  },
});
const ENTRIES = Number(values.entries);
const BATCH = Number(values.batch);
const SEQUENTIAL = Number(values.sequential);
const TOPIC = 'bench-ledger';

async function node(privateKey: PrivateKey): Promise<Libp2pLedgerNode> {
  return createLibp2p({
    privateKey,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, scoreParams: { IPColocationFactorWeight: 0 } }),
    },
  });
}

async function ledgerOn(libp2p: Libp2pLedgerNode, privateKey: PrivateKey, path: string): Promise<Ledger> {
  const ledger = new Ledger({
    path,
    privateKey,
    transport: createLibp2pLedgerTransport(libp2p, { isAdmitted: () => true }),
    topic: TOPIC,
    log: silentLogger(),
    syncIntervalMs: 0,
    compactIntervalMs: 0,
  });
  await ledger.start();
  return ledger;
}

const dir = await mkdtemp(join(tmpdir(), 'kml-bench-'));
const rssStart = sampleProcess(process.pid).rssBytes;
const keyA = await generateKeyPair('Ed25519');
const nodeA = await node(keyA);
const a = await ledgerOn(nodeA, keyA, join(dir, 'a'));

// Sequential: one put at a time, each acknowledged only after its fsync.
const loadBefore = loadAverage();
let started = performance.now();
let cpu = process.cpuUsage();
const cpuSince = (): number => {
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / 1e6;
};
for (let index = 0; index < SEQUENTIAL; index += 1) await a.put('seq', `k${index}`, { index });
const sequentialSeconds = (performance.now() - started) / 1000;
const sequentialCpu = cpuSince();

// Batched: putMany, one fsync per batch; distinct keys so state holds every entry.
started = performance.now();
cpu = process.cpuUsage();
for (let offset = 0; offset < ENTRIES; offset += BATCH) {
  const ops = Array.from({ length: Math.min(BATCH, ENTRIES - offset) }, (_, index) => ({
    op: 'put' as const,
    bucket: 'bulk',
    key: `key-${offset + index}`,
    value: { n: offset + index, host: `node-${(offset + index) % 97}`, ready: true },
  }));
  await a.putMany(ops);
}
const batchedSeconds = (performance.now() - started) / 1000;
const batchedCpu = cpuSince();
globalThis.gc?.();
const afterWrite = process.memoryUsage();
const rssWithEntries = sampleProcess(process.pid).rssBytes;
const total = a.stats().entries;

// Catch-up: a fresh node dials A and pulls everything by version vector (gossip never replays).
const keyB = await generateKeyPair('Ed25519');
const nodeB = await node(keyB);
const b = await ledgerOn(nodeB, keyB, join(dir, 'b'));
started = performance.now();
cpu = process.cpuUsage();
await nodeB.dial(nodeA.getMultiaddrs());
while (b.stats().entries < total) await new Promise((resolve) => setTimeout(resolve, 5));
const catchUpSeconds = (performance.now() - started) / 1000;
const catchUpCpu = cpuSince();
const identical = JSON.stringify(b.versionVector()) === JSON.stringify(a.versionVector());

// Idle anti-entropy: both hold the same entries, so a sync is one digest exchange. Measured on
// the wire: TCP bytes both ways on A's sockets (ss), over IDLE_SYNCS syncs.
const IDLE_SYNCS = 50;
const portA = nodeA.getMultiaddrs()[0]!.toString().split('/')[4]!;
const wireBefore = tcpBytes(portA);
for (let index = 0; index < IDLE_SYNCS; index += 1) await b.syncWith(a.selfId);
const idleBytesPerSync = Math.round((tcpBytes(portA) - wireBefore) / IDLE_SYNCS);

started = performance.now();
const report = await b.verify();
const verifySeconds = (performance.now() - started) / 1000;

await b.stop();
await a.stop();
await nodeB.stop();
await nodeA.stop();
await rm(dir, { recursive: true, force: true });

const mib = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;
process.stdout.write(
  `${JSON.stringify(
    {
      bench: 'ledger-throughput',
      entries: total,
      // Other work on the machine slows wall-clock figures; CPU seconds show this process's share.
      loadAverageBefore: loadBefore,
      loadAverageAfter: loadAverage(),
      sequential: {
        appends: SEQUENTIAL,
        seconds: round(sequentialSeconds),
        perSecond: Math.round(SEQUENTIAL / sequentialSeconds),
        cpuSeconds: round(sequentialCpu),
      },
      batched: {
        appends: ENTRIES,
        batch: BATCH,
        seconds: round(batchedSeconds),
        perSecond: Math.round(ENTRIES / batchedSeconds),
        cpuSeconds: round(batchedCpu),
        perCpuSecond: Math.round(ENTRIES / batchedCpu),
      },
      catchUp: {
        entries: total,
        seconds: round(catchUpSeconds),
        perSecond: Math.round(total / catchUpSeconds),
        cpuSeconds: round(catchUpCpu),
        identical,
      },
      idleSync: { syncs: IDLE_SYNCS, wireBytesPerSync: idleBytesPerSync },
      verifyAll: { entries: report.entries, invalid: report.invalid, seconds: round(verifySeconds) },
      memory: {
        rssStartMiB: mib(rssStart),
        rssWithEntriesMiB: mib(rssWithEntries),
        heapUsedMiB: mib(afterWrite.heapUsed),
        note: 'one process holding node A (all entries, state of every key in memory) before node B starts',
      },
    },
    null,
    2,
  )}\n`,
);

/** TCP payload bytes sent + received on the sockets bound to `port` (from `ss -ti`). */
function tcpBytes(port: string): number {
  const text = execFileSync('ss', ['-tinH', `( sport = :${port} )`]).toString();
  let total = 0;
  for (const match of text.matchAll(/bytes_(?:sent|received):(\d+)/g)) total += Number(match[1]);
  return total;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
