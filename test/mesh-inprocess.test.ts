import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mesh } from '../src/mesh/index.ts';
import { loadOrCreateIdentity } from '../src/mesh/index.ts';
import { deriveKeys, newToken, type NetworkToken } from '../src/token/index.ts';
import { silentLogger } from '../src/shared/logger.ts';
import { tempDir, waitFor } from './helpers/daemons.ts';

describe('several meshes in one process', () => {
  let root: Awaited<ReturnType<typeof tempDir>>;
  const meshes: Mesh[] = [];

  async function startMesh(name: string, token: NetworkToken, bootstrap: string[]): Promise<Mesh> {
    const dataDir = `${root.path}/${name}`;
    const mesh = await Mesh.create({
      dataDir,
      privateKey: await loadOrCreateIdentity(dataDir),
      keys: deriveKeys(token),
      name,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      bootstrap,
      mdns: false,
      dht: 'private',
      relayServer: true,
      heartbeatMs: 500,
      ttlMs: 2000,
      log: silentLogger(),
    });
    await mesh.start();
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
});
