/**
 * Test helper process: one VpnService in the current network namespace, with stand-ins for
 * the daemon's ports — a directory shared by all test nodes plays the ledger (`kv/`) and the
 * membership (`alive/`), and a real libp2p node (TCP + Noise + Yamux) carries the relay path.
 * Started by the system tests and bench/overlay through `ip netns exec`. Not product code.
 *
 * argv[2]: JSON NodeSpec. Writes `status/<name>.json` every 250 ms; SIGTERM stops cleanly.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { Stream } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { tcp } from '@libp2p/tcp';
import { identify } from '@libp2p/identify';
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p, type Libp2p } from 'libp2p';
import { pino } from 'pino';
import {
  VpnService,
  type RelayTransport,
  type VpnKv,
  type VpnKvEntry,
  type VpnMembership,
} from '../../src/vpn/index.ts';
import { stopSignal } from '../../src/shared/stop-signal.ts';

export interface NodeSpec {
  dir: string;
  name: string;
  dataDir: string;
  iface: string;
  cidr: string;
  listenPort: number;
  /** e.g. /ip4/198.18.0.2/tcp/4100; no relay path without it. */
  libp2pListen?: string;
  /** Serve as a libp2p circuit relay (the "public" node of the NAT test). */
  relayServer?: boolean;
  /** Name of the node whose circuit relay this one reserves a slot on (it is behind NAT). */
  relayVia?: string;
  observed?: string[];
  forceRelay?: boolean;
  probeIntervalMs?: number;
  peerGraceMs?: number;
  keep?: boolean;
  backend?: 'auto' | 'kernel' | 'userspace';
}

const spec = JSON.parse(process.argv[2] ?? '{}') as NodeSpec;
const log = pino(
  { level: process.env['VPN_NODE_LOG'] ?? 'warn', base: { module: 'vpn' } },
  pino.destination(2),
);

let writes = 0;
async function atomicWrite(file: string, text: string): Promise<void> {
  const temp = `${file}.${process.pid}.${writes++}.tmp`;
  await writeFile(temp, text);
  await rename(temp, file);
}

async function loadPeerKey() {
  await mkdir(spec.dataDir, { recursive: true, mode: 0o700 });
  const file = join(spec.dataDir, 'libp2p.key');
  try {
    return privateKeyFromProtobuf(await readFile(file));
  } catch {
    const key = await generateKeyPair('Ed25519');
    await writeFile(file, privateKeyToProtobuf(key), { mode: 0o600 });
    return key;
  }
}

/** The ledger stand-in: one JSON file per record, author = the writing node. */
class DirKv implements VpnKv {
  private readonly root: string;
  private readonly selfId: string;
  constructor(root: string, selfId: string) {
    this.root = root;
    this.selfId = selfId;
  }
  async put(bucket: string, key: string, value: unknown): Promise<void> {
    if (bucket === 'vpn' && key !== this.selfId) throw new Error('write rule: vpn/<key> must be the writer');
    await mkdir(join(this.root, bucket), { recursive: true });
    const entry: VpnKvEntry = {
      bucket,
      key,
      value,
      author: this.selfId,
      lamport: Date.now(),
      time: Date.now(),
    };
    await atomicWrite(join(this.root, bucket, `${key}.json`), JSON.stringify(entry));
  }
  async get(bucket: string, key: string): Promise<unknown> {
    try {
      return (JSON.parse(await readFile(join(this.root, bucket, `${key}.json`), 'utf8')) as VpnKvEntry).value;
    } catch {
      return undefined;
    }
  }
  async list(bucket: string): Promise<VpnKvEntry[]> {
    const dir = join(this.root, bucket);
    await mkdir(dir, { recursive: true });
    const entries: VpnKvEntry[] = [];
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.json')) continue;
      try {
        entries.push(JSON.parse(await readFile(join(dir, name), 'utf8')) as VpnKvEntry);
      } catch {
        // being replaced right now
      }
    }
    return entries;
  }
  subscribe(listener: Parameters<VpnKv['subscribe']>[0]): () => void {
    const watcher: FSWatcher = watch(join(this.root, 'vpn'), (_event, name) => {
      const key = String(name ?? '').replace(/\.json(\..*\.tmp)?$/, '');
      listener({ bucket: 'vpn', key, value: undefined, author: key, deleted: false });
    });
    return () => watcher.close();
  }
}

class DirMembership implements VpnMembership {
  private readonly dir: string;
  private current: string[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly listeners = new Set<() => void>();
  constructor(dir: string) {
    this.dir = dir;
    this.timer = setInterval(() => void this.refresh(), 250);
  }
  async refresh(): Promise<void> {
    const next = (await readdir(this.dir)).sort();
    if (next.join() === this.current.join()) return;
    this.current = next;
    for (const listener of this.listeners) listener();
  }
  alive(): Array<{ peerId: string }> {
    return this.current.map((peerId) => ({ peerId }));
  }
  onChange(callback: () => void): () => void {
    this.listeners.add(callback);
    return () => this.listeners.delete(callback);
  }
  observedAddresses(): string[] {
    return spec.observed ?? [];
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

/** The relay port over a real libp2p node; peers' addresses come from `p2p/<peerId>`. */
function libp2pRelay(node: Libp2p, dir: string): RelayTransport {
  return {
    handle: (protocol, handler) =>
      node.handle(
        protocol,
        (stream: Stream, connection) => handler(stream, connection.remotePeer.toString()),
        {
          runOnLimitedConnection: true,
        },
      ),
    unhandle: (protocol) => node.unhandle(protocol),
    dialProtocol: async (peerId, protocol, signal): Promise<Stream> => {
      peerIdFromString(peerId);
      const address = (await readFile(join(dir, 'p2p', peerId), 'utf8')).trim();
      return node.dialProtocol(multiaddr(address), protocol, { signal, runOnLimitedConnection: true });
    },
  };
}

async function waitForFile(file: string): Promise<string> {
  for (let i = 0; i < 300; i++) {
    try {
      return (await readFile(file, 'utf8')).trim();
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`${file} never appeared`);
}

async function dialWithRetry(node: Libp2p, address: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await node.dial(multiaddr(address), { signal: AbortSignal.timeout(5_000) });
      return;
    } catch (error) {
      if (attempt >= 20) throw error;
      log.warn({ err: (error as Error).message, attempt }, 'relay node not reachable yet');
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

async function waitUntil(check: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  if (!check()) throw new Error('no relay reservation');
}

async function main(): Promise<void> {
  const privateKey = await loadPeerKey();
  const peerId = peerIdFromPrivateKey(privateKey).toString();
  for (const sub of ['kv/vpn', 'alive', 'p2p', 'status'])
    await mkdir(join(spec.dir, sub), { recursive: true });
  let node: Libp2p | undefined;
  if (spec.libp2pListen !== undefined) {
    const relayed = spec.relayVia !== undefined;
    node = await createLibp2p({
      privateKey,
      addresses: { listen: [spec.libp2pListen, ...(relayed ? ['/p2p-circuit'] : [])] },
      transports: [tcp(), circuitRelayTransport()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: {
        identify: identify(),
        ...(spec.relayServer === true
          ? { relay: circuitRelayServer({ reservations: { applyDefaultLimit: false } }) }
          : {}),
      },
    });
    let reachable = `${spec.libp2pListen}/p2p/${peerId}`;
    if (relayed) {
      // Behind NAT: reachable only through a reservation on the relay node.
      const relay = await waitForFile(join(spec.dir, 'p2p-by-name', spec.relayVia!));
      await dialWithRetry(node, relay);
      await waitUntil(() =>
        node!.getMultiaddrs().some((address) => address.toString().includes('/p2p-circuit')),
      );
      reachable = `${relay}/p2p-circuit/p2p/${peerId}`;
    }
    await atomicWrite(join(spec.dir, 'p2p', peerId), reachable);
    await mkdir(join(spec.dir, 'p2p-by-name'), { recursive: true });
    await atomicWrite(join(spec.dir, 'p2p-by-name', spec.name), reachable);
  }
  const membership = new DirMembership(join(spec.dir, 'alive'));
  const service = new VpnService({
    selfId: peerId,
    dataDir: spec.dataDir,
    name: spec.name,
    settings: {
      cidr: spec.cidr,
      iface: spec.iface,
      backend: spec.backend ?? 'auto',
      endpoints: [],
      listenPort: spec.listenPort,
      mtu: 1380,
      keep: spec.keep ?? false,
      peerGraceMs: spec.peerGraceMs ?? 600_000,
    },
    kv: new DirKv(join(spec.dir, 'kv'), peerId),
    membership,
    relay: node === undefined ? undefined : libp2pRelay(node, spec.dir),
    log,
    path: {
      ...(spec.forceRelay === undefined ? {} : { forceRelay: spec.forceRelay }),
      ...(spec.probeIntervalMs === undefined ? {} : { probeIntervalMs: spec.probeIntervalMs }),
    },
  });
  const statusFile = join(spec.dir, 'status', `${spec.name}.json`);
  try {
    await service.start();
  } catch (error) {
    await atomicWrite(statusFile, JSON.stringify({ error: (error as Error).message }));
    process.exitCode = 1;
    membership.stop();
    await node?.stop();
    return;
  }
  await writeFile(join(spec.dir, 'alive', peerId), '');
  await membership.refresh();
  const report = async (): Promise<void> =>
    atomicWrite(
      statusFile,
      JSON.stringify({ peerId, pid: process.pid, at: Date.now(), ...service.status() }),
    );
  await report();
  const timer = setInterval(() => {
    report().catch((error: unknown) => log.warn({ err: (error as Error).message }, 'status write failed'));
  }, 250);
  const stop = async (): Promise<void> => {
    clearInterval(timer);
    await rm(join(spec.dir, 'alive', peerId), { force: true });
    membership.stop();
    await service.stop();
    await node?.stop();
    await atomicWrite(statusFile, JSON.stringify({ peerId, stopped: true }));
    process.exit(0);
  };
  void stopSignal().then(stop);
}

await main();
