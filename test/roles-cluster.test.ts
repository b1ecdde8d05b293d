import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeshStatus } from '../src/mesh/index.ts';
import type { RolesSnapshot } from '../src/roles/index.ts';
import { fakeK3sCalls, killFakeK3s, writeFakeK3s, type FakeK3sCall } from '../src/roles/testing/fake-k3s.ts';
import {
  cli,
  cliJson,
  firstAddress,
  startDaemon,
  stopDaemon,
  tempDir,
  waitFor,
  type DaemonHandle,
} from './helpers/daemons.ts';
import { LOOPBACK_DAEMON_ARGS } from '../src/cli/spawn-daemon.ts';

/**
 * Roles through real daemons and the CLI. No k3s can run here: each node drives a fake `k3s`
 * (src/roles/testing/fake-k3s.ts) that records its argv and K3S_* env, writes a node-token and
 * a kubeconfig like k3s does, and stays up. The overlay is off, so nodes use their mesh addresses.
 */
const FAKE_TOKEN = 'K10fake::server:secret';

interface Cluster {
  root: string;
  token: string;
  daemons: DaemonHandle[];
  /** Per node: its k3s root (fake binary, recorded calls, files k3s would write). */
  k3sRoots: string[];
}

async function writeNodeConfig(
  dir: string,
  k3sRoot: string,
  haMasters: number | undefined,
  graceSeconds: number,
): Promise<string> {
  const bin = await writeFakeK3s(k3sRoot, { token: FAKE_TOKEN });
  const ha =
    haMasters === undefined ? '' : `  auto: { ha: { enable: true, master_nodes: ${haMasters - 1} } }\n`;
  const config = `#cloud-config
p2p:
  minimum_nodes: 3
${ha}k3s:
  args: [--disable=traefik]
kairos_mesh:
  presence: { heartbeat_interval: 500ms, ttl: 3s }
  roles: { master_grace: ${graceSeconds}s }
  k3s: { service: exec, bin: ${bin}, root: ${k3sRoot} }
`;
  const file = join(dir, 'config.yaml');
  await writeFile(file, config);
  return file;
}

async function startNode(
  cluster: Cluster,
  i: number,
  haMasters: number | undefined,
  bootstrap: string[],
  graceSeconds = 4,
): Promise<DaemonHandle> {
  const dir = join(cluster.root, `r${i}`);
  await mkdir(dir, { recursive: true });
  const config = await writeNodeConfig(dir, cluster.k3sRoots[i]!, haMasters, graceSeconds);
  return startDaemon({
    name: `r${i}`,
    dataDir: join(dir, 'data'),
    token: cluster.token,
    args: ['--config', config, ...LOOPBACK_DAEMON_ARGS, ...bootstrap],
  });
}

async function startCluster(prefix: string, size: number, haMasters?: number): Promise<Cluster> {
  const dir = await tempDir(prefix);
  const cluster: Cluster = {
    root: dir.path,
    token: (await cli(['token', 'new'])).stdout.trim(),
    daemons: [],
    k3sRoots: Array.from({ length: size }, (_, i) => join(dir.path, `r${i}`, 'k3s')),
  };
  cluster.daemons.push(await startNode(cluster, 0, haMasters, []));
  const bootstrap = ['--bootstrap', firstAddress(cluster.daemons[0]!)];
  cluster.daemons.push(
    ...(await Promise.all(
      Array.from({ length: size - 1 }, (_, i) => startNode(cluster, i + 1, haMasters, bootstrap)),
    )),
  );
  return cluster;
}

async function stopCluster(cluster: Cluster): Promise<void> {
  await Promise.all(cluster.daemons.map((daemon) => stopDaemon(daemon, 'SIGKILL')));
  await Promise.all(cluster.k3sRoots.map((root) => killFakeK3s(root)));
  await (await import('node:fs/promises')).rm(cluster.root, { recursive: true, force: true });
}

const rolesOf = (daemon: DaemonHandle): Promise<RolesSnapshot> =>
  cliJson<RolesSnapshot>(['roles', '--data-dir', daemon.dataDir]);
const peerIdOf = async (daemon: DaemonHandle): Promise<string> =>
  (await cliJson<MeshStatus>(['status', '--data-dir', daemon.dataDir])).peerId;

/** The decision every listed daemon reports, once they all report the same one. */
async function agreedDecision(
  daemons: DaemonHandle[],
  accept: (d: NonNullable<RolesSnapshot['decision']>) => boolean,
): Promise<NonNullable<RolesSnapshot['decision']>> {
  let agreed: NonNullable<RolesSnapshot['decision']> | undefined;
  await waitFor(
    'one decision on every node',
    async () => {
      const decisions = (await Promise.all(daemons.map(rolesOf))).map((snapshot) => snapshot.decision);
      const first = decisions[0];
      if (first === undefined || !accept(first)) return false;
      if (!decisions.every((d) => d !== undefined && d.hash === first.hash && d.epoch === first.epoch))
        return false;
      agreed = first;
      return true;
    },
    45_000,
    500,
  );
  return agreed!;
}

const servers = (calls: FakeK3sCall[]): FakeK3sCall[] => calls.filter((call) => call.argv[0] === 'server');
const clusterInits = (calls: FakeK3sCall[]): FakeK3sCall[] =>
  servers(calls).filter((call) => call.argv.includes('--cluster-init'));

describe('five daemons, minimum_nodes 3, one master', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster('km-roles1-', 5);
  }, 120_000);

  afterAll(async () => stopCluster(cluster));

  it('elects exactly one init master and four workers, the same on every node, and drives k3s', async () => {
    const decision = await agreedDecision(cluster.daemons, (d) => d.masters.length + d.workers.length === 5);
    expect(decision.masters).toHaveLength(1);
    expect(decision.workers).toHaveLength(4);
    expect(decision.masters[0]!.peerId).toBe(decision.initMaster.peerId);

    const ids = await Promise.all(cluster.daemons.map(peerIdOf));
    const masterIndex = ids.indexOf(decision.initMaster.peerId);
    const callsPerNode = await Promise.all(
      cluster.k3sRoots.map(async (root, i) => {
        await waitFor(`k3s started on r${i}`, async () => (await fakeK3sCalls(root)).length > 0, 20_000);
        return fakeK3sCalls(root);
      }),
    );
    const master = servers(callsPerNode[masterIndex]!);
    expect(master).toHaveLength(1);
    expect(master[0]!.argv).toContain('--disable=traefik');
    for (const [i, calls] of callsPerNode.entries()) {
      if (i === masterIndex) continue;
      expect(servers(calls)).toEqual([]);
      const agent = calls.find((call) => call.argv[0] === 'agent');
      expect(agent, `r${i} runs k3s agent`).toBeDefined();
      expect(agent!.K3S_URL).toMatch(/^https:\/\/127\.0\.0\.1:6443$/);
      expect(agent!.K3S_TOKEN).toBe(FAKE_TOKEN);
      expect(agent!.argv).not.toContain('--disable=traefik');
    }
  }, 90_000);

  it('kubeconfig is fetched on demand from the master, never from the ledger', async () => {
    const worker = cluster.daemons[1]!;
    const result = await cli(['kubeconfig', '--data-dir', worker.dataDir]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/server: https:\/\/127\.0\.0\.1:6443/);
    const ledger = await cli(['ledger', 'ls', '--json', '--data-dir', worker.dataDir]);
    expect(ledger.stdout).not.toContain('apiVersion');
  }, 30_000);

  it('a master gone past its grace is replaced, and the target of one master is kept', async () => {
    const before = await agreedDecision(cluster.daemons, () => true);
    const ids = await Promise.all(cluster.daemons.map(peerIdOf));
    const masterIndex = ids.indexOf(before.initMaster.peerId);
    await stopDaemon(cluster.daemons[masterIndex]!, 'SIGKILL');
    const survivors = cluster.daemons.filter((_, i) => i !== masterIndex);
    const after = await agreedDecision(
      survivors,
      (d) => d.epoch > before.epoch && d.masters.every((m) => m.peerId !== before.initMaster.peerId),
    );
    expect(after.masters).toHaveLength(1);
    expect(after.workers.map((w) => w.peerId)).not.toContain(after.masters[0]!.peerId);
  }, 90_000);
});

describe('HA: four daemons, three masters', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster('km-roles3-', 4, 3);
  }, 120_000);

  afterAll(async () => stopCluster(cluster));

  it('elects three masters with one cluster-init; losing the init master keeps the decision and never inits again', async () => {
    const decision = await agreedDecision(cluster.daemons, (d) => d.masters.length + d.workers.length === 4);
    expect(decision.masters).toHaveLength(3);
    expect(decision.workers).toHaveLength(1);
    const ids = await Promise.all(cluster.daemons.map(peerIdOf));
    await waitFor(
      'every master running k3s server',
      async () => {
        const calls = await Promise.all(
          decision.masters.map((m) => fakeK3sCalls(cluster.k3sRoots[ids.indexOf(m.peerId)]!)),
        );
        return calls.every((c) => servers(c).length > 0);
      },
      30_000,
    );
    const initIndex = ids.indexOf(decision.initMaster.peerId);
    const all = (await Promise.all(cluster.k3sRoots.map(fakeK3sCalls))).flat();
    expect(clusterInits(all)).toHaveLength(1);
    const joining = servers(all).filter((call) => call.argv.includes('--server'));
    expect(joining).toHaveLength(2);
    for (const call of joining) expect(call.K3S_TOKEN).toBe(FAKE_TOKEN);

    await stopDaemon(cluster.daemons[initIndex]!, 'SIGKILL');
    const survivors = cluster.daemons.filter((_, i) => i !== initIndex);
    // Well past the 4 s grace: whatever the survivors decided, nobody inits a second cluster.
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const later = await agreedDecision(survivors, () => true);
    expect(later.initMaster.peerId).toBe(decision.initMaster.peerId);
    expect(later.masters.length).toBeLessThanOrEqual(3);
    const allAfter = (await Promise.all(cluster.k3sRoots.map(fakeK3sCalls))).flat();
    expect(clusterInits(allAfter)).toHaveLength(1);
    cluster.daemons[initIndex] = await startNode(cluster, initIndex, 3, []);
  }, 120_000);

  it('stop all, start all: the same roles', async () => {
    // The restarted init master may still cause a change: take the decision once it is settled.
    let before = await agreedDecision(cluster.daemons, () => true);
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      const again = await agreedDecision(cluster.daemons, () => true);
      if (again.hash === before.hash) break;
      before = again;
    }
    expect(await Promise.all(cluster.daemons.map((daemon) => stopDaemon(daemon)))).toEqual([0, 0, 0, 0]);
    // A power cycle: every node boots at once. The grace is the default's order of magnitude
    // here, so nodes still booting are not taken for lost masters.
    const restarted = await Promise.all(cluster.daemons.map((_, i) => startNode(cluster, i, 3, [], 60)));
    cluster.daemons.splice(0, cluster.daemons.length, ...restarted);
    const after = await agreedDecision(cluster.daemons, () => true);
    expect(after.hash).toBe(before.hash);
    expect(after.epoch).toBe(before.epoch);
    expect(after.masters.map((m) => m.peerId).sort()).toEqual(before.masters.map((m) => m.peerId).sort());
  }, 180_000);
});
