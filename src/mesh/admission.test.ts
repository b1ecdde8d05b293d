import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { tcp } from '@libp2p/tcp';
import { createLibp2p, type Libp2p } from 'libp2p';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../shared/logger.ts';
import { sleep } from '../shared/sleep.ts';
import { Admission } from './admission.ts';

const GRACE_MS = 400;

async function admittedNode(key: Uint8Array): Promise<{ libp2p: Libp2p; admission: Admission }> {
  const libp2p = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
  });
  const admission = new Admission(libp2p, {
    key,
    log: silentLogger(),
    graceMs: GRACE_MS,
    keepNonMembers: false,
  });
  await admission.start();
  return { libp2p, admission };
}

async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

describe('admission', () => {
  const nodes: Libp2p[] = [];
  afterEach(async () => {
    for (const node of nodes.splice(0)) await node.stop();
  });

  it('admits two members that dial each other at the same moment, and keeps them past the grace', async () => {
    const key = randomBytes(32);
    const a = await admittedNode(key);
    const b = await admittedNode(key);
    nodes.push(a.libp2p, b.libp2p);
    await Promise.all([
      a.libp2p.dial(b.libp2p.getMultiaddrs()[0]!),
      b.libp2p.dial(a.libp2p.getMultiaddrs()[0]!),
    ]);
    await until(
      () =>
        a.admission.isAdmitted(b.libp2p.peerId.toString()) &&
        b.admission.isAdmitted(a.libp2p.peerId.toString()),
    );
    await sleep(GRACE_MS * 2);
    expect(a.admission.isAdmitted(b.libp2p.peerId.toString())).toBe(true);
    expect(b.admission.isAdmitted(a.libp2p.peerId.toString())).toBe(true);
    expect(a.libp2p.getConnections(b.libp2p.peerId).length).toBeGreaterThan(0);
    expect([a.admission.stats().rejected, b.admission.stats().rejected]).toEqual([0, 0]);
  });

  it('refuses a peer with another token on both sides, counts it and hangs up', async () => {
    const a = await admittedNode(randomBytes(32));
    const b = await admittedNode(randomBytes(32));
    nodes.push(a.libp2p, b.libp2p);
    await b.libp2p.dial(a.libp2p.getMultiaddrs()[0]!);
    await until(() => a.admission.stats().rejected === 1 && b.admission.stats().rejected === 1);
    await until(() => a.libp2p.getConnections().length === 0);
    expect(a.admission.admittedPeers()).toEqual([]);
    expect(b.admission.admittedPeers()).toEqual([]);
  });

  it('closes a connection that never starts a handshake once the grace is over', async () => {
    const a = await admittedNode(randomBytes(32));
    const silent = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
    });
    nodes.push(a.libp2p, silent);
    await silent.dial(a.libp2p.getMultiaddrs()[0]!);
    await until(() => a.libp2p.getConnections().length === 1);
    const openedAt = Date.now();
    await until(() => a.libp2p.getConnections().length === 0, GRACE_MS * 5);
    expect(Date.now() - openedAt).toBeGreaterThanOrEqual(GRACE_MS - 50);
    expect(a.admission.admittedPeers()).toEqual([]);
  });
});
