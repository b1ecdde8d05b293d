/**
 * System tests (root) with real `kairos-mesh up` daemons, each in its own network namespace,
 * real WireGuard through wireguard-go, driven through the CLI (`vpn status --json`):
 * 1. LAN: three nodes on one bridge ping each other over the overlay, all `direct`;
 *    churn: a fourth joins and is reachable from all, a restarted node keeps key and address,
 *    a node gone for good leaves its peers after the grace period; stop leaves nothing behind.
 * 2. NAT: two nodes behind their own NAT routers and one public node: the NATed pair pings over
 *    the overlay on `relay`, both reach the public node `direct`.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeshStatus } from '../src/mesh/index.ts';
import type { VpnStatus } from '../src/vpn/index.ts';
import { cli, cliJson, startDaemon, stopDaemon, tempDir, type DaemonHandle } from './helpers/daemons.ts';
import {
  NETNS_DAEMON_ARGS,
  Topology,
  ns,
  nsTry,
  pings,
  removeLink,
  waitFor,
  wireguardGoPids,
} from './helpers/vpn-netns.ts';

const isRoot = process.getuid?.() === 0;
/** VPN_TEST_DEBUG=1: daemons log at info and their VPN lines are printed at the end. */
const DEBUG = process.env['VPN_TEST_DEBUG'] === '1';
const DEBUG_ARGS = DEBUG ? ['--log-level', 'info'] : [];

function printVpnLogs(daemons: DaemonHandle[]): void {
  if (!DEBUG) return;
  for (const daemon of daemons) console.log(daemon.name, daemon.stderr);
}

/** What each daemon sees, to append to a failure: its overlay status and its member table. */
async function describeViews(daemons: DaemonHandle[]): Promise<string> {
  const lines: string[] = [];
  for (const daemon of daemons) {
    const vpn = await vpnStatus(daemon).catch((error: unknown) => String(error));
    const { stdout: peers } = await cli(['peers', '--data-dir', daemon.dataDir]);
    lines.push(`${daemon.name} vpn: ${JSON.stringify(vpn)}`, `${daemon.name} peers:\n${peers}`);
  }
  return lines.join('\n');
}

async function vpnStatus(daemon: DaemonHandle): Promise<VpnStatus> {
  return cliJson<VpnStatus>(['vpn', 'status', '--data-dir', daemon.dataDir]);
}

/** The status once every named peer is established on the wanted path, else undefined. */
async function settled(
  daemon: DaemonHandle,
  want: Record<string, 'direct' | 'relay'>,
): Promise<VpnStatus | undefined> {
  const status = await vpnStatus(daemon).catch(() => undefined);
  if (status === undefined) return undefined;
  for (const [name, path] of Object.entries(want)) {
    const peer = status.peers.find((candidate) => candidate.name === name);
    if (peer?.path !== path || !peer.established || peer.lastHandshake === null) return undefined;
  }
  return status;
}

async function pingable(namespace: string, address: string, what: string, timeoutMs = 20_000): Promise<void> {
  await waitFor(what, timeoutMs, async () => ((await pings(namespace, address)) ? true : undefined));
}

describe.skipIf(!isRoot)('overlay with real daemons on a LAN', () => {
  const PREFIX = 'kmsl';
  const topology = new Topology(PREFIX);
  const daemons: DaemonHandle[] = [];
  const spaces: string[] = [];
  let root: Awaited<ReturnType<typeof tempDir>>;
  let token = '';
  let configFile = '';

  const start = async (i: number): Promise<DaemonHandle> =>
    startDaemon({
      name: `m${i}`,
      dataDir: join(root.path, `m${i}`),
      token,
      prefix: ['ip', 'netns', 'exec', spaces[i - 1]!],
      args: ['--config', configFile, ...NETNS_DAEMON_ARGS, '--vpn-iface', `${PREFIX}wg${i}`, ...DEBUG_ARGS],
    });

  beforeAll(async () => {
    root = await tempDir('kmsl-');
    token = (await cli(['token', 'new'])).stdout.trim();
    configFile = join(root.path, 'config.yaml');
    await writeFile(configFile, '#cloud-config\nkairos_mesh:\n  vpn:\n    peer_grace: 5s\n');
    spaces.push(...(await topology.bridge(4, '198.18.70')));
    // Peers find each other by mDNS, as on a real LAN; multicast needs a route here.
    for (let i = 1; i <= 4; i++)
      await ns(spaces[i - 1]!, ['ip', 'route', 'add', '224.0.0.0/4', 'dev', `${PREFIX}n${i}a`]);
  }, 60_000);

  afterAll(async () => {
    printVpnLogs(daemons);
    for (const daemon of daemons) await stopDaemon(daemon, 'SIGKILL');
    for (let i = 0; i < spaces.length; i++) await removeLink(spaces[i]!, `${PREFIX}wg${i + 1}`);
    await topology.destroy();
    await root.remove();
  });

  it('three nodes: every pair pings over the overlay, all direct', async () => {
    for (let i = 1; i <= 3; i++) daemons.push(await start(i));
    const views = await Promise.all(
      daemons.map((daemon, index) =>
        waitFor(`${daemon.name} to have two direct peers`, 45_000, () =>
          settled(
            daemon,
            Object.fromEntries([1, 2, 3].filter((j) => j !== index + 1).map((j) => [`m${j}`, 'direct'])),
          ),
        ),
      ),
    ).catch(async (error: unknown) => {
      throw new Error(`${String(error)}\n${await describeViews(daemons)}`);
    });
    const ips = views.map((view) => view.overlayIp!);
    expect(new Set(ips).size).toBe(3);
    for (let a = 0; a < 3; a++)
      for (let b = 0; b < 3; b++) if (a !== b) await pingable(spaces[a]!, ips[b]!, `m${a + 1} -> m${b + 1}`);
    for (const view of views)
      for (const peer of view.peers) expect(peer.endpoint).toMatch(/^198\.18\.70\.\d:51830$/);
  }, 120_000);

  it('a fourth node joins and is reachable from all within seconds', async () => {
    const startedAt = Date.now();
    daemons.push(await start(4));
    const fourth = await waitFor(
      'm4 to have an overlay address',
      30_000,
      async () => (await vpnStatus(daemons[3]!).catch(() => undefined))?.overlayIp ?? undefined,
    );
    for (let a = 0; a < 3; a++) await pingable(spaces[a]!, fourth, `m${a + 1} -> m4`, 30_000);
    const joinedMs = Date.now() - startedAt;
    expect(joinedMs).toBeLessThan(30_000);
  }, 90_000);

  it('a restarted node keeps its key and overlay address', async () => {
    const before = await vpnStatus(daemons[1]!);
    expect(await stopDaemon(daemons[1]!), daemons[1]!.stderr.slice(-3000)).toBe(0);
    expect(await nsTry(spaces[1]!, ['ip', 'link', 'show', `${PREFIX}wg2`])).not.toBe(0);
    daemons[1] = await start(2);
    const after = await waitFor('m2 back with an address', 30_000, async () => {
      const status = await vpnStatus(daemons[1]!).catch(() => undefined);
      return status?.overlayIp === null ? undefined : status;
    });
    expect(after.publicKey).toBe(before.publicKey);
    expect(after.overlayIp).toBe(before.overlayIp);
    await pingable(spaces[0]!, after.overlayIp!, 'm1 -> restarted m2', 30_000);
  }, 90_000);

  it('a node gone for good leaves its peers after the grace period', async () => {
    const gone = await vpnStatus(daemons[3]!);
    expect(await stopDaemon(daemons[3]!), daemons[3]!.stderr.slice(-3000)).toBe(0);
    await waitFor('m1 to drop m4', 60_000, async () => {
      const status = await vpnStatus(daemons[0]!);
      return status.peers.some((peer) => peer.publicKey === gone.publicKey) ? undefined : true;
    });
    const { stdout } = await cli(['vpn', 'status', '--data-dir', daemons[0]!.dataDir]);
    expect(stdout).not.toContain(gone.overlayIp!);
  }, 90_000);

  it('stop leaves no interface and no wireguard-go behind', async () => {
    for (const daemon of daemons.slice(0, 3))
      expect(await stopDaemon(daemon), daemon.stderr.slice(-3000)).toBe(0);
    for (let i = 1; i <= 4; i++) {
      expect(await nsTry(spaces[i - 1]!, ['ip', 'link', 'show', `${PREFIX}wg${i}`])).not.toBe(0);
      expect(await wireguardGoPids(`${PREFIX}wg${i}`)).toEqual([]);
    }
  }, 60_000);
});

describe.skipIf(!isRoot)('overlay with real daemons across NAT', () => {
  const PREFIX = 'kmsn';
  const topology = new Topology(PREFIX);
  const daemons: Record<string, DaemonHandle> = {};
  const spaces: Record<string, string> = {};
  let root: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    root = await tempDir('kmsn-');
    const { hub, bridge } = await topology.hub();
    spaces['pub'] = await topology.attach(hub, bridge, 'pub', '198.18.80.10/24');
    spaces['a'] = await topology.natHost(hub, bridge, 'a', '198.18.80.1', '198.18.81');
    spaces['b'] = await topology.natHost(hub, bridge, 'b', '198.18.80.2', '198.18.82');
  }, 60_000);

  afterAll(async () => {
    printVpnLogs(Object.values(daemons));
    for (const daemon of Object.values(daemons)) await stopDaemon(daemon, 'SIGKILL');
    for (const [name, index] of [
      ['pub', 0],
      ['a', 1],
      ['b', 2],
    ] as const)
      if (spaces[name] !== undefined) await removeLink(spaces[name], `${PREFIX}wg${index}`);
    await topology.destroy();
    await root.remove();
  });

  it('the NATed pair pings over the relay; both reach the public node directly', async () => {
    const token = (await cli(['token', 'new'])).stdout.trim();
    const common = [...NETNS_DAEMON_ARGS, ...DEBUG_ARGS];
    daemons['pub'] = await startDaemon({
      name: 'pub',
      dataDir: join(root.path, 'pub'),
      token,
      prefix: ['ip', 'netns', 'exec', spaces['pub']!],
      args: [...common, '--vpn-iface', `${PREFIX}wg0`],
    });
    const pubId = (await cliJson<MeshStatus>(['status', '--data-dir', daemons['pub'].dataDir])).peerId;
    const bootstrap = `/ip4/198.18.80.10/tcp/4001/p2p/${pubId}`;
    for (const [name, index] of [
      ['a', 1],
      ['b', 2],
    ] as const) {
      daemons[name] = await startDaemon({
        name,
        dataDir: join(root.path, name),
        token,
        prefix: ['ip', 'netns', 'exec', spaces[name]!],
        args: [...common, '--vpn-iface', `${PREFIX}wg${index}`, '--bootstrap', bootstrap],
      });
    }
    // The routers really block the way between the NATed nodes.
    expect(await pings(spaces['a']!, '198.18.82.2')).toBe(false);

    const a = await waitFor('a: relay to b, direct to pub', 90_000, () =>
      settled(daemons['a']!, { b: 'relay', pub: 'direct' }),
    ).catch(async (error: unknown) => {
      if (DEBUG)
        for (const daemon of Object.values(daemons)) {
          console.log(daemon.name, JSON.stringify(await vpnStatus(daemon).catch((e: unknown) => String(e))));
          console.log(daemon.name, (await cli(['peers', '--data-dir', daemon.dataDir])).stdout);
        }
      throw error;
    });
    const b = await waitFor('b: relay to a, direct to pub', 30_000, () =>
      settled(daemons['b']!, { a: 'relay', pub: 'direct' }),
    );
    const pub = await waitFor('pub: direct to both', 30_000, () =>
      settled(daemons['pub']!, { a: 'direct', b: 'direct' }),
    );
    await pingable(spaces['a']!, b.overlayIp!, 'a -> b over the relay');
    await pingable(spaces['b']!, a.overlayIp!, 'b -> a over the relay');
    await pingable(spaces['a']!, pub.overlayIp!, 'a -> pub');
    await pingable(spaces['pub']!, b.overlayIp!, 'pub -> b');
    expect(a.peers.find((peer) => peer.name === 'b')!.endpoint).toMatch(/^127\.0\.0\.1:\d+$/);
  }, 180_000);
});
