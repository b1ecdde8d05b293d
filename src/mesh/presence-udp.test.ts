import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Libp2p } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../shared/logger.ts';
import { PeerSigner, SignatureVerifier } from '../shared/peer-keys.ts';
import { waitUntil } from '../shared/wait-until.ts';
import { deriveKeys, newToken } from '../token/index.ts';
import type { Admission } from './admission.ts';
import { MemberTable } from './member-table.ts';
import { Presence } from './presence.ts';
import { PresenceUdp, type Endpoint } from './presence-udp.ts';

const HEARTBEAT_MS = 50;
const TTL_MS = 300;

interface Node {
  peerId: string;
  table: MemberTable;
  presence: Presence;
  udp: PresenceUdp;
  endpoint: Endpoint;
}

/**
 * Presence over real UDP sockets on 127.0.0.1, with no libp2p connection at all: what a joiner
 * sees before its connection is up. libp2p and admission are stand-ins that never connect.
 */
const started: Node[] = [];

async function startNode(name: string, datagramKey: Uint8Array): Promise<Node> {
  const privateKey = await generateKeyPair('Ed25519');
  const peerId = peerIdFromPrivateKey(privateKey);
  const libp2p = {
    peerId,
    handle: () => Promise.resolve(),
    unhandle: () => Promise.resolve(),
    getMultiaddrs: () => [],
  } as unknown as Libp2p;
  const admission = {
    onAdmitted: () => () => undefined,
    onLost: () => () => undefined,
    isAdmitted: () => false,
  } as unknown as Admission;
  const table = new MemberTable({ peerId: peerId.toString(), name, addresses: [] }, TTL_MS);
  const udp = new PresenceUdp({
    key: datagramKey,
    signer: new PeerSigner(privateKey),
    verifier: new SignatureVerifier(),
    log: silentLogger(),
    now: Date.now,
  });
  const presence = new Presence(
    libp2p,
    admission,
    table,
    { heartbeatMs: HEARTBEAT_MS, log: silentLogger(), now: Date.now, selfName: name },
    udp,
  );
  // Port 0 here (any free port); the mesh binds its TCP port's number.
  expect(await udp.start('127.0.0.1', 0)).toBe(true);
  await presence.start();
  const node = {
    peerId: peerId.toString(),
    table,
    presence,
    udp,
    endpoint: { host: '127.0.0.1', port: udp.port() },
  };
  started.push(node);
  return node;
}

async function stopNode(node: Node): Promise<void> {
  await node.presence.stop();
  node.udp.stop();
  started.splice(started.indexOf(node), 1);
}

const aliveNames = (node: Node): string[] =>
  node.table
    .list(Date.now())
    .filter((member) => member.alive)
    .map((member) => member.name);

const polled = (wake: () => void): (() => void) => {
  const timer = setInterval(wake, 10);
  return () => clearInterval(timer);
};

async function until(check: () => boolean): Promise<void> {
  expect(await waitUntil(check, polled, 3_000)).toBe(true);
}

afterEach(async () => {
  for (const node of [...started]) await stopNode(node);
});

describe('presence datagrams', () => {
  it('makes a joiner and the mesh alive to each other with no connection, and loses a silent one after the TTL', async () => {
    const key = deriveKeys(newToken()).datagramKey;
    const hub = await startNode('hub', key);
    const a = await startNode('a', key);
    const b = await startNode('b', key);
    a.presence.greet(hub.peerId, hub.endpoint);
    await until(() => aliveNames(hub).includes('a') && aliveNames(a).includes('hub'));
    b.presence.greet(hub.peerId, hub.endpoint);
    // b hears of a from the hub's hello; a hears of b from the hub's member datagram: both
    // second-hand, on the hub's word.
    await until(() => aliveNames(b).length === 3 && aliveNames(a).length === 3);
    expect(aliveNames(a).sort()).toEqual(['a', 'b', 'hub']);
    expect(a.table.get(b.peerId)?.connected).toBe(false);
    // Keepalives hold them past several TTLs.
    await new Promise((resolve) => setTimeout(resolve, TTL_MS * 3));
    expect(aliveNames(a)).toHaveLength(3);
    await stopNode(b);
    await until(() => !aliveNames(hub).includes('b') && !aliveNames(a).includes('b'));
  });

  it('refuses datagrams sealed with another token, and garbage', async () => {
    const hub = await startNode('hub', deriveKeys(newToken()).datagramKey);
    const stranger = await startNode('stranger', deriveKeys(newToken()).datagramKey);
    stranger.presence.greet(hub.peerId, hub.endpoint);
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) =>
      socket.send(Buffer.alloc(200, 1), hub.endpoint.port, '127.0.0.1', () => resolve()),
    );
    socket.close();
    await until(() => hub.udp.counters().rejected >= 2);
    expect(hub.table.has(stranger.peerId)).toBe(false);
    expect(aliveNames(stranger)).toEqual(['stranger']);
  });
});
