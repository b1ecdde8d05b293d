/**
 * System test (root): two namespaces whose UDP to each other is dropped by nftables, so
 * WireGuard cannot handshake directly. The VPN carries the WireGuard datagrams over a real
 * libp2p stream (TCP + Noise + Yamux) instead: ping works and both sides report `relay`.
 * When the drop rule goes, the periodic direct probe moves both back to `direct`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import {
  Topology,
  makeSharedDir,
  ns,
  pings,
  readStatus,
  removeDir,
  removeLink,
  startNode,
  stopNode,
  waitFor,
  waitStarted,
  type NodeStatus,
  type VpnNode,
} from './helpers/vpn-netns.ts';

const PREFIX = 'kmvr';
const topology = new Topology(PREFIX);
let dir = '';
let namespaces: string[] = [];
const nodes: VpnNode[] = [];

/** Drops every UDP datagram from the other namespace: WireGuard's direct path is dead. */
async function blockUdp(namespace: string, from: string): Promise<void> {
  await ns(namespace, ['nft', 'add', 'table', 'inet', `${PREFIX}`]);
  await ns(namespace, [
    'nft',
    'add',
    'chain',
    'inet',
    PREFIX,
    'in',
    '{ type filter hook input priority 0 ; }',
  ]);
  await ns(namespace, [
    'nft',
    'add',
    'rule',
    'inet',
    PREFIX,
    'in',
    'ip',
    'saddr',
    from,
    'meta',
    'l4proto',
    'udp',
    'drop',
  ]);
}

async function unblockUdp(namespace: string): Promise<void> {
  await ns(namespace, ['nft', 'delete', 'table', 'inet', PREFIX]);
}

async function peerPath(node: VpnNode, want: 'direct' | 'relay'): Promise<NodeStatus | undefined> {
  const status = await readStatus(node);
  const peer = status?.peers[0];
  return peer !== undefined && peer.path === want && peer.established && peer.lastHandshake !== null
    ? status
    : undefined;
}

beforeAll(async () => {
  dir = await makeSharedDir(PREFIX);
  const a = await topology.addNamespace('a');
  const b = await topology.addNamespace('b');
  await topology.link(a, b, 'l', '198.18.20.1/24', '198.18.20.2/24');
  namespaces = [a, b];
  await blockUdp(a, '198.18.20.2');
  await blockUdp(b, '198.18.20.1');
});

afterAll(async () => {
  if (process.env['VPN_TEST_DEBUG'] === '1')
    for (const node of nodes)
      console.log(node.spec.name, JSON.stringify(await readStatus(node), null, 1), node.stderr);
  for (const node of nodes) await stopNode(node);
  await removeLink(namespaces[0]!, `${PREFIX}wg1`);
  await removeLink(namespaces[1]!, `${PREFIX}wg2`);
  await topology.destroy();
  await removeDir(dir);
});

describe('relay path', () => {
  it('carries WireGuard over a libp2p stream when UDP is blocked', async () => {
    for (let i = 1; i <= 2; i++) {
      nodes.push(
        startNode(namespaces[i - 1]!, {
          dir,
          name: `r${i}`,
          dataDir: join(dir, `data-r${i}`),
          iface: `${PREFIX}wg${i}`,
          cidr: '100.64.0.0/16',
          listenPort: 51830,
          libp2pListen: `/ip4/198.18.20.${i}/tcp/4100`,
          probeIntervalMs: 4_000,
        }),
      );
    }
    const [first, second] = await Promise.all(nodes.map((node) => waitStarted(node)));
    // UDP really is blocked: no direct handshake can happen.
    await waitFor('ping over the relay', 30_000, async () =>
      (await pings(namespaces[0]!, second!.overlayIp!)) ? true : undefined,
    );
    expect(await pings(namespaces[1]!, first!.overlayIp!)).toBe(true);
    for (const node of nodes) {
      const status = await waitFor(`${node.spec.name} on relay`, 15_000, () => peerPath(node, 'relay'));
      expect(status.peers[0]!.endpoint).toMatch(/^127\.0\.0\.1:\d+$/);
    }
    const counters = await ns(namespaces[0]!, ['nft', 'list', 'table', 'inet', PREFIX]);
    expect(counters).toContain('drop');
  });

  it('switches back to direct once UDP gets through', async () => {
    await unblockUdp(namespaces[0]!);
    await unblockUdp(namespaces[1]!);
    for (const node of nodes) {
      const status = await waitFor(`${node.spec.name} back on direct`, 40_000, () =>
        peerPath(node, 'direct'),
      );
      expect(status.peers[0]!.endpoint).toMatch(/^198\.18\.20\.\d:51830$/);
    }
    const b = (await readStatus(nodes[1]!))!;
    expect(await pings(namespaces[0]!, b.overlayIp!)).toBe(true);
  });
});
