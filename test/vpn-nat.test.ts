/**
 * System test (root): the NAT scenario. A "public" node and two routers share one segment;
 * each of two nodes sits behind its own router, which masquerades with random source ports
 * and drops every new inbound connection (so UDP hole punching between the two cannot work,
 * and they cannot accept TCP either). libp2p reaches the NATed nodes through a circuit relay
 * on the public node. Expected: the NATed pair pings over the overlay on the relay path, and
 * both reach the public node directly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import {
  Topology,
  makeSharedDir,
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

const PREFIX = 'kmvn';
const topology = new Topology(PREFIX);
let dir = '';
const nodes: VpnNode[] = [];
const spaces: Record<'pub' | 'a' | 'b', string> = { pub: '', a: '', b: '' };

function spec(name: string, i: number, more: Partial<VpnNode['spec']>): VpnNode['spec'] {
  return {
    dir,
    name,
    dataDir: join(dir, `data-${name}`),
    iface: `${PREFIX}wg${i}`,
    cidr: '100.64.0.0/16',
    listenPort: 51830,
    ...more,
  };
}

function peerByName(status: NodeStatus, name: string): NodeStatus['peers'][number] | undefined {
  return status.peers.find((peer) => peer.name === name);
}

beforeAll(async () => {
  dir = await makeSharedDir(PREFIX);
  const { hub, bridge } = await topology.hub();
  spaces.pub = await topology.attach(hub, bridge, 'pub', '198.18.50.10/24');
  spaces.a = await topology.natHost(hub, bridge, 'a', '198.18.50.1', '198.18.51');
  spaces.b = await topology.natHost(hub, bridge, 'b', '198.18.50.2', '198.18.52');
});

afterAll(async () => {
  if (process.env['VPN_TEST_DEBUG'] === '1')
    for (const node of nodes)
      console.log(node.spec.name, JSON.stringify(await readStatus(node), null, 1), node.stderr);
  for (const node of nodes) await stopNode(node);
  await removeLink(spaces.pub, `${PREFIX}wg0`);
  await removeLink(spaces.a, `${PREFIX}wg1`);
  await removeLink(spaces.b, `${PREFIX}wg2`);
  await topology.destroy();
  await removeDir(dir);
});

describe('overlay across NAT', () => {
  it('NATed nodes reach each other over the relay and the public node directly', async () => {
    nodes.push(
      startNode(
        spaces.pub,
        spec('pub', 0, { libp2pListen: '/ip4/198.18.50.10/tcp/4100', relayServer: true }),
      ),
    );
    await waitStarted(nodes[0]!);
    nodes.push(
      startNode(
        spaces.a,
        spec('a', 1, {
          libp2pListen: '/ip4/198.18.51.2/tcp/4100',
          relayVia: 'pub',
          observed: ['198.18.50.1'],
        }),
      ),
      startNode(
        spaces.b,
        spec('b', 2, {
          libp2pListen: '/ip4/198.18.52.2/tcp/4100',
          relayVia: 'pub',
          observed: ['198.18.50.2'],
        }),
      ),
    );
    const [pub, a, b] = await Promise.all(nodes.map((node) => waitStarted(node)));

    // The routers really block the direct way between the NATed nodes.
    expect(await pings(spaces.a, '198.18.52.2')).toBe(false);

    await waitFor('a -> b over the overlay', 45_000, async () =>
      (await pings(spaces.a, b!.overlayIp!)) ? true : undefined,
    );
    expect(await pings(spaces.b, a!.overlayIp!, 2)).toBe(true);
    expect(await pings(spaces.a, pub!.overlayIp!, 2)).toBe(true);
    expect(await pings(spaces.pub, b!.overlayIp!, 2)).toBe(true);

    const settled = async (
      node: VpnNode,
      want: Record<string, 'direct' | 'relay'>,
    ): Promise<NodeStatus | undefined> => {
      const status = await readStatus(node);
      if (status === undefined) return undefined;
      for (const [name, path] of Object.entries(want)) {
        const peer = peerByName(status, name);
        if (peer?.path !== path || !peer.established || peer.lastHandshake === null) return undefined;
      }
      return status;
    };
    const aView = await waitFor('a: relay to b, direct to pub', 20_000, () =>
      settled(nodes[1]!, { b: 'relay', pub: 'direct' }),
    );
    await waitFor('b: relay to a, direct to pub', 20_000, () =>
      settled(nodes[2]!, { a: 'relay', pub: 'direct' }),
    );
    await waitFor('pub: direct to both', 20_000, () => settled(nodes[0]!, { a: 'direct', b: 'direct' }));
    expect(peerByName(aView, 'b')!.endpoint).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(peerByName(aView, 'pub')!.endpoint).toBe('198.18.50.10:51830');
  });
});
