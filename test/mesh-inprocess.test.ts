import { mkdir, stat, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mesh } from '../src/mesh/index.ts';
import type { DhtMode } from '../src/config/config.ts';
import type { DialTiming } from '../src/mesh/dial-policy.ts';
import { loadOrCreateIdentity } from '../src/mesh/index.ts';
import { deriveKeys, newToken, type NetworkToken } from '../src/token/index.ts';
import { silentLogger } from '../src/shared/logger.ts';
import { tempDir, waitFor } from './helpers/daemons.ts';

describe('several meshes in one process', () => {
  let root: Awaited<ReturnType<typeof tempDir>>;
  const meshes: Mesh[] = [];

  async function startMesh(
    name: string,
    token: NetworkToken,
    bootstrap: string[],
    {
      listen = ['/ip4/127.0.0.1/tcp/0'],
      relayServer = true,
      dialTiming,
      dht = 'private',
    }: { listen?: string[]; relayServer?: boolean; dialTiming?: DialTiming; dht?: DhtMode } = {},
  ): Promise<Mesh> {
    const dataDir = `${root.path}/${name}`;
    const mesh = await Mesh.create({
      dataDir,
      privateKey: await loadOrCreateIdentity(dataDir),
      keys: deriveKeys(token),
      name,
      listen,
      bootstrap,
      mdns: false,
      dht,
      relayServer,
      heartbeatMs: 500,
      ttlMs: 2000,
      log: silentLogger(),
      ...(dialTiming === undefined ? {} : { dialTiming }),
    });
    await mesh.start();
    mesh.join();
    meshes.push(mesh);
    return mesh;
  }

  beforeAll(async () => {
    root = await tempDir('km-inproc-');
  });

  afterAll(async () => {
    await Promise.all(meshes.map((mesh) => mesh.stop()));
    await root.remove();
  });

  it('converge to one membership, while a node with another token is never admitted', async () => {
    const token = newToken();
    const first = await startMesh('a', token, []);
    const bootstrap = [first.addresses()[0]!];
    const others = await Promise.all(['b', 'c', 'd', 'e'].map((name) => startMesh(name, token, bootstrap)));
    const stranger = await startMesh('x', newToken(), bootstrap);
    const members = [first, ...others];

    await waitFor(
      'all five alive everywhere',
      () => Promise.resolve(members.every((mesh) => mesh.aliveMembers().length === 5)),
      20_000,
    );
    await waitFor(
      'the stranger refused',
      () => Promise.resolve(first.status().admission.rejected > 0),
      20_000,
    );

    const ids = members.map((mesh) => mesh.peerId).sort();
    for (const mesh of members) {
      expect(
        mesh
          .aliveMembers()
          .map((member) => member.peerId)
          .sort(),
      ).toEqual(ids);
      expect(mesh.isAdmitted(stranger.peerId)).toBe(false);
    }
    expect(stranger.members().map((member) => member.name)).toEqual(['x']);
    expect(stranger.admittedPeers()).toEqual([]);
  }, 40_000);

  it('members that bootstrapped to one see each other through it at once, and connect to each other later', async () => {
    const token = newToken();
    // The fill-in shortened from 15-45 s to 3-3.5 s.
    const dialTiming = { newMemberGraceMs: 1_000, yieldMs: 3_000, fillInAfterMs: 3_000, fillInSpreadMs: 500 };
    // No DHT: its rendezvous finds every member and dials it at once.
    const options = { dialTiming, dht: 'off' as const };
    const hub = await startMesh('hub', token, [], options);
    const bootstrap = [hub.addresses()[0]!];
    const [b, c] = await Promise.all(['fb', 'fc'].map((name) => startMesh(name, token, bootstrap, options)));
    await waitFor('all three alive everywhere', () =>
      Promise.resolve([hub, b!, c!].every((mesh) => mesh.aliveMembers().length === 3)),
    );
    // Seen through the hub before any dial of its own is due.
    expect(b!.members().find((member) => member.peerId === c!.peerId)?.connected).toBe(false);
    await waitFor(
      'b and c connected to each other',
      () => Promise.resolve(b!.isAdmitted(c!.peerId) && c!.isAdmitted(b!.peerId)),
      15_000,
    );
  }, 30_000);

  it('a joiner its bootstrap answered by datagram is alive at once, and connects 1-3 s later', async () => {
    const token = newToken();
    const hub = await startMesh('dg-hub', token, []);
    const joiner = await startMesh('dg-joiner', token, [hub.addresses()[0]!]);
    await waitFor(
      'both alive to each other',
      () => Promise.resolve(hub.isAlive(joiner.peerId) && joiner.isAlive(hub.peerId)),
      5_000,
      20,
    );
    // Alive by datagram: the libp2p dial waits for the spread after the greeting's answer.
    expect(hub.isAdmitted(joiner.peerId)).toBe(false);
    expect(hub.members().find((member) => member.peerId === joiner.peerId)).toMatchObject({
      name: 'dg-joiner',
      alive: true,
      connected: false,
    });
    expect(hub.status().datagrams).toMatchObject({ enabled: true, rejected: 0 });
    expect(hub.status().datagrams.received).toBeGreaterThan(0);
    await waitFor('the joiner connected', () => Promise.resolve(hub.isAdmitted(joiner.peerId)), 10_000);
    expect(hub.members().find((member) => member.peerId === joiner.peerId)?.connected).toBe(true);
  }, 20_000);

  it('keeps its peer store in peerstore.json and removes the LevelDB one of older versions', async () => {
    const dataDir = `${root.path}/legacy`;
    await mkdir(`${dataDir}/peerstore`, { recursive: true });
    await writeFile(`${dataDir}/peerstore/CURRENT`, 'MANIFEST-000001\n');
    const mesh = await startMesh('legacy', newToken(), []);
    await expect(stat(`${dataDir}/peerstore`)).rejects.toThrow(/ENOENT/);
    await mesh.stop();
    meshes.splice(meshes.indexOf(mesh), 1);
    expect((await stat(`${dataDir}/peerstore.json`)).mode & 0o777).toBe(0o600);
  });

  it('two members that cannot reach each other see each other alive through a third', async () => {
    const token = newToken();
    // No relay either: a relayed connection would reach across.
    const hub = await startMesh('hub', token, [], { relayServer: false });
    const bootstrap = [hub.addresses()[0]!];
    // Neither listens, so neither can dial the other: all they know of each other is hearsay.
    const [left, right] = await Promise.all(
      ['left', 'right'].map((name) => startMesh(name, token, bootstrap, { listen: [] })),
    );
    await waitFor(
      'left and right alive to each other',
      () => Promise.resolve(left!.isAlive(right!.peerId) && right!.isAlive(left!.peerId)),
      20_000,
    );
    expect(left!.status().connections).toBe(1);
    expect(left!.members().find((m) => m.peerId === right!.peerId)).toMatchObject({
      alive: true,
      connected: false,
    });

    await hub.stop();
    meshes.splice(meshes.indexOf(hub), 1);
    await waitFor(
      'left to see right not alive once nobody vouches for it',
      () => Promise.resolve(!left!.isAlive(right!.peerId)),
      10_000,
    );
  }, 40_000);
});
