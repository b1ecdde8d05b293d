/**
 * System test (root): three namespaces on one bridge, each running the VPN reconciler with
 * real wireguard-go; a shared directory stands in for the ledger. Every pair pings over the
 * overlay on the direct path; a restarted node keeps its key and address; a node gone for
 * longer than its grace period is removed; stop leaves no interface or process behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import {
  Topology,
  makeSharedDir,
  ns,
  nsTry,
  pings,
  readStatus,
  removeDir,
  removeLink,
  startNode,
  stopNode,
  waitFor,
  waitStarted,
  wireguardGoPids,
  type VpnNode,
} from './helpers/vpn-netns.ts';

const PREFIX = 'kmvl';
const CIDR = '100.64.0.0/16';
const topology = new Topology(PREFIX);
let dir = '';
let namespaces: string[] = [];
const nodes: VpnNode[] = [];

function spec(i: number, more: Partial<VpnNode['spec']> = {}): VpnNode['spec'] {
  return {
    dir,
    name: `n${i}`,
    dataDir: join(dir, `data-n${i}`),
    iface: `${PREFIX}wg${i}`,
    cidr: CIDR,
    listenPort: 51830,
    peerGraceMs: 4_000,
    ...more,
  };
}

beforeAll(async () => {
  dir = await makeSharedDir(PREFIX);
  namespaces = await topology.bridge(4, '198.18.10');
});

afterAll(async () => {
  for (const node of nodes) await stopNode(node);
  for (let i = 0; i < namespaces.length; i++) await removeLink(namespaces[i]!, `${PREFIX}wg${i + 1}`);
  await topology.destroy();
  await removeDir(dir);
});

describe('overlay on one LAN', () => {
  it('three nodes: every pair pings over the overlay, all direct', async () => {
    for (let i = 1; i <= 3; i++) nodes.push(startNode(namespaces[i - 1]!, spec(i)));
    const started = await Promise.all(nodes.map((node) => waitStarted(node)));
    const ips = started.map((status) => status.overlayIp!);
    expect(new Set(ips).size).toBe(3);
    for (const ip of ips) expect(ip.startsWith('100.64.')).toBe(true);

    for (let a = 0; a < 3; a++) {
      for (let b = 0; b < 3; b++) {
        if (a === b) continue;
        await waitFor(`n${a + 1} -> n${b + 1} over the overlay`, 15_000, async () =>
          (await pings(namespaces[a]!, ips[b]!)) ? true : undefined,
        );
      }
    }
    for (const node of nodes) {
      const status = await waitFor(`${node.spec.name} to see two established peers`, 10_000, async () => {
        const s = await readStatus(node);
        return s !== undefined && s.peers.length === 2 && s.peers.every((p) => p.established) ? s : undefined;
      });
      for (const peer of status.peers) {
        expect(peer.path).toBe('direct');
        expect(peer.endpoint).toMatch(/^198\.18\.10\.\d:51830$/);
        expect(peer.lastHandshake).not.toBeNull();
        expect(peer.rxBytes).toBeGreaterThan(0);
      }
    }
  });

  it('a fourth node joins and is reachable from all within seconds', async () => {
    const joinedAt = Date.now();
    const fourth = startNode(namespaces[3]!, spec(4));
    nodes.push(fourth);
    const status = await waitStarted(fourth);
    for (let a = 0; a < 3; a++)
      await waitFor(`n${a + 1} -> n4`, 15_000, async () =>
        (await pings(namespaces[a]!, status.overlayIp!)) ? true : undefined,
      );
    expect(Date.now() - joinedAt).toBeLessThan(20_000);
  });

  it('a restarted node keeps its key and overlay address', async () => {
    const node = nodes[1]!;
    const before = (await readStatus(node))!;
    await stopNode(node);
    expect(await nsTry(node.namespace, ['ip', 'link', 'show', node.spec.iface])).not.toBe(0);
    const again = startNode(node.namespace, node.spec);
    nodes[1] = again;
    const after = await waitStarted(again);
    expect(after.publicKey).toBe(before.publicKey);
    expect(after.overlayIp).toBe(before.overlayIp);
    await waitFor('n1 -> restarted n2', 15_000, async () =>
      (await pings(namespaces[0]!, after.overlayIp!)) ? true : undefined,
    );
  });

  it('rebuilds its interface when someone deletes it', async () => {
    const node = nodes[2]!;
    const status = (await readStatus(node))!;
    await ns(node.namespace, ['ip', 'link', 'del', node.spec.iface]);
    expect(await pings(namespaces[0]!, status.overlayIp!)).toBe(false);
    await waitFor('n1 -> n3 after the rebuild', 20_000, async () =>
      (await pings(namespaces[0]!, status.overlayIp!)) ? true : undefined,
    );
  });

  it('with keep, stop leaves the interface working and a restart takes it over', async () => {
    const node = nodes[2]!;
    await stopNode(node);
    const kept = startNode(node.namespace, { ...node.spec, keep: true });
    const before = await waitStarted(kept);
    await stopNode(kept);
    expect(await nsTry(node.namespace, ['ip', 'link', 'show', node.spec.iface])).toBe(0);
    expect(await wireguardGoPids(node.spec.iface)).toHaveLength(1);
    await waitFor('n1 -> n3 with n3 stopped but kept', 10_000, async () =>
      (await pings(namespaces[0]!, before.overlayIp!)) ? true : undefined,
    );
    const again = startNode(node.namespace, node.spec);
    nodes[2] = again;
    const after = await waitStarted(again);
    expect(after.overlayIp).toBe(before.overlayIp);
    expect(after.backend).toBe('userspace');
    expect(await wireguardGoPids(node.spec.iface)).toHaveLength(1);
  });

  it('a node gone for good is removed from peers after its grace period', async () => {
    const gone = nodes[3]!;
    const goneStatus = (await readStatus(gone))!;
    await stopNode(gone);
    await waitFor('n4 removed from n1', 15_000, async () => {
      const s = await readStatus(nodes[0]!);
      return s !== undefined && !s.peers.some((p) => p.peerId === goneStatus.peerId) ? true : undefined;
    });
    const wgPeers = await ns(namespaces[0]!, ['wg', 'show', nodes[0]!.spec.iface, 'peers']);
    expect(wgPeers).not.toContain(goneStatus.publicKey);
  });

  it('stop leaves no interface and no wireguard-go process behind', async () => {
    for (const node of nodes) await stopNode(node);
    for (let i = 0; i < 4; i++) {
      expect(await nsTry(namespaces[i]!, ['ip', 'link', 'show', `${PREFIX}wg${i + 1}`])).not.toBe(0);
      expect(await wireguardGoPids(`${PREFIX}wg${i + 1}`)).toEqual([]);
    }
    await rm(join(dir, 'kv'), { recursive: true, force: true });
  });
});
