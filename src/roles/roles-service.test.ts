import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { K3sUserSettings } from '../config/config.ts';
import { silentLogger } from '../shared/logger.ts';
import { sleep } from '../shared/sleep.ts';
import { RolesService, type RolesConfig } from './roles-service.ts';
import { fakeK3sCalls, writeFakeK3s } from './testing/fake-k3s.ts';
import { FakeNetwork } from './testing/fake-ledger.ts';
import { RecordingDriver } from './testing/recording-driver.ts';

const user = (): K3sUserSettings => ({
  enabled: true,
  args: [],
  env: {},
  replaceArgs: false,
  replaceEnv: false,
});

function config(overrides: Partial<RolesConfig> = {}): RolesConfig {
  return {
    role: 'auto',
    minimumNodes: 3,
    autoRoles: true,
    masters: 1,
    masterGraceMs: 400,
    k3s: user(),
    k3sAgent: user(),
    k3sService: 'exec',
    k3sBin: 'k3s',
    dataDir: '/nonexistent',
    vpn: { useForK3s: true, iface: 'kmesh0' },
    ...overrides,
  };
}

const services: RolesService[] = [];
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const service of services.splice(0)) await service.stop();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

interface Node {
  peerId: string;
  name: string;
  service: RolesService;
  driver: RecordingDriver;
}

function startNode(
  network: FakeNetwork,
  index: number,
  settings: RolesConfig,
  driver = new RecordingDriver(),
  syncWindowMs?: number,
): Node {
  const peerId = `12D3KooWpeer${index}`;
  const name = `node-${index}`;
  const kv = network.join(peerId, name, `100.64.0.${index + 1}`);
  const service = new RolesService({
    self: { peerId, name },
    config: settings,
    kv,
    membership: network.membership(peerId),
    mesh: network.mesh(peerId),
    driver,
    log: silentLogger(),
    settleMs: 30,
    tickMs: 40,
    staggerMs: 20,
    ...(syncWindowMs === undefined ? {} : { syncWindowMs }),
  });
  services.push(service);
  void service.start();
  return { peerId, name, service, driver };
}

function stopNode(network: FakeNetwork, node: Node): Promise<void> {
  network.leave(node.peerId);
  services.splice(services.indexOf(node.service), 1);
  return node.service.stop();
}

async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function agreed(nodes: Node[], members: number): boolean {
  const hashes = new Set(nodes.map((node) => node.service.decision?.hash));
  return hashes.size === 1 && nodes[0]!.service.decision?.proposal.members.length === members;
}

describe('RolesService over a fake replicated ledger', () => {
  it('bootstraps well inside a long sync window once the init master has pulled from every peer', async () => {
    const network = new FakeNetwork();
    const nodes = [0, 1, 2].map((index) => startNode(network, index, config(), undefined, 60_000));
    await until(() => agreed(nodes, 3), 'a 3-member decision on every node', 10_000);
    const init = nodes.find((node) => node.peerId === nodes[0]!.service.decision!.proposal.initMaster)!;
    const pulls = network.replicas.get(init.peerId)!.pulls;
    for (const node of nodes.filter((other) => other !== init))
      expect(pulls).toContainEqual({ peerId: node.peerId, urgent: true });
  });

  it('covers a peer it reaches through another by asking that one to refresh, well inside a long sync window', async () => {
    const network = new FakeNetwork();
    const ids = [0, 1, 2].map((index) => `12D3KooWring${index}`);
    const nodes = ids.map((peerId, index) => {
      const kv = network.join(peerId, `ring-${index}`, `100.64.0.${index + 1}`);
      const membership = network.membership(peerId);
      // Each node is connected to the next one only, and sees the third through it.
      const next = ids[(index + 1) % ids.length]!;
      const service = new RolesService({
        self: { peerId, name: `ring-${index}` },
        config: config(),
        kv,
        membership: { ...membership, pullSourceFor: (peer) => (peer === peerId ? peer : next) },
        mesh: network.mesh(peerId),
        driver: new RecordingDriver(),
        log: silentLogger(),
        settleMs: 30,
        tickMs: 40,
        syncWindowMs: 60_000,
      });
      services.push(service);
      return { peerId, service };
    });
    await Promise.all(nodes.map((node) => node.service.start()));
    await until(
      () =>
        new Set(nodes.map((node) => node.service.decision?.hash ?? 'none')).size === 1 &&
        nodes[0]!.service.decision !== undefined,
      'one decision on every node',
      10_000,
    );
    const init = nodes[0]!.service.decision!.proposal.initMaster;
    const next = ids[(ids.indexOf(init) + 1) % ids.length]!;
    expect(network.replicas.get(init)!.pulls).toContainEqual({ peerId: next, urgent: true, refresh: true });
  });

  it('pulls a record it lacks from the member it reaches that peer through, not from the peer itself', async () => {
    const network = new FakeNetwork();
    const peerId = '12D3KooWlonely';
    const kv = network.join(peerId, 'lonely', '100.64.0.9');
    const membership = network.membership(peerId);
    const service = new RolesService({
      self: { peerId, name: 'lonely' },
      config: config(),
      kv,
      membership: {
        ...membership,
        // A peer seen alive only through a hub: its record is to be had from the hub.
        alive: () => [...membership.alive(), { peerId: '12D3KooWunseen', name: 'unseen' }],
        pullSourceFor: (peer) => (peer === '12D3KooWunseen' ? '12D3KooWhub' : peer),
      },
      mesh: network.mesh(peerId),
      driver: new RecordingDriver(),
      log: silentLogger(),
      settleMs: 30,
      tickMs: 40,
    });
    services.push(service);
    await service.start();
    const pulls = network.replicas.get(peerId)!.pulls;
    await until(() => pulls.length > 0, 'a pull for the missing record');
    expect(pulls).toContainEqual({ peerId: '12D3KooWhub', urgent: true });
    expect(pulls.map((pull) => pull.peerId)).not.toContain('12D3KooWunseen');
  });

  it('5 nodes, minimum 3, one master: one init master, 4 workers, the same decision everywhere, k3s told the right thing', async () => {
    const network = new FakeNetwork();
    const nodes = [0, 1, 2, 3, 4].map((index) => startNode(network, index, config()));
    await until(() => agreed(nodes, 5), 'a 5-member decision on every node');
    const decision = nodes[0]!.service.decision!.proposal;
    const masters = decision.members.filter((member) => member.role === 'master');
    expect(masters).toHaveLength(1);
    expect(masters[0]!.peerId).toBe(decision.initMaster);
    const init = nodes.find((node) => node.peerId === decision.initMaster)!;
    const initIp = `100.64.0.${nodes.indexOf(init) + 1}`;
    await until(() => nodes.every((node) => node.driver.last !== undefined), 'k3s applied on every node');
    expect(init.driver.last).toMatchObject({ role: 'init-master', nodeIp: initIp, flannelIface: 'kmesh0' });
    for (const node of nodes.filter((other) => other !== init)) {
      expect(node.driver.last).toEqual({
        role: 'worker',
        serverUrl: `https://${initIp}:6443`,
        token: 'K10test::server:secret',
        nodeIp: `100.64.0.${nodes.indexOf(node) + 1}`,
        flannelIface: 'kmesh0',
        user: user(),
      });
    }
    const snapshot = nodes[1]!.service.snapshot();
    expect(snapshot.decision?.initMaster.name).toBe(init.name);
    expect(snapshot.decision?.workers).toHaveLength(4);
    expect(snapshot.nodes.every((node) => node.alive && node.role !== 'unassigned')).toBe(true);

    // kubeconfig from a worker: fetched over the mesh from the master, address rewritten.
    const worker = nodes.find((node) => node !== init)!;
    const { kubeconfig, from } = await worker.service.kubeconfig();
    expect(from.peerId).toBe(init.peerId);
    expect(kubeconfig).toContain(`server: https://${initIp}:6443`);
  });

  it('says what it waits for before minimum_nodes are alive', async () => {
    const network = new FakeNetwork();
    const nodes = [0, 1].map((index) => startNode(network, index, config()));
    await until(() => nodes[0]!.service.snapshot().message === '2 of 3 nodes alive', 'the waiting message');
    expect(nodes[0]!.service.decision).toBeUndefined();
    expect(nodes[0]!.driver.applied).toHaveLength(0);
    expect(nodes[0]!.service.snapshot().phase).toBe('waiting-for-nodes');
  });

  it('makes a single-node cluster with minimum_nodes 1', async () => {
    const network = new FakeNetwork();
    const [node] = [startNode(network, 0, config({ minimumNodes: 1, role: 'master' }))];
    await until(() => node.driver.last !== undefined, 'k3s applied');
    expect(node.driver.last?.role).toBe('init-master');
    expect(node.service.snapshot().decision?.epoch).toBe(1);
  });

  it('HA: 3 masters; the init master dies: decision kept, no second cluster-init, a worker replaces it after the grace', async () => {
    const network = new FakeNetwork();
    const nodes = [0, 1, 2, 3, 4].map((index) => startNode(network, index, config({ masters: 3 })));
    await until(() => agreed(nodes, 5), 'a 5-member decision');
    const first = nodes[0]!.service.decision!;
    expect(first.proposal.members.filter((member) => member.role === 'master')).toHaveLength(3);
    const init = nodes.find((node) => node.peerId === first.proposal.initMaster)!;
    await until(() => nodes.every((node) => node.driver.last !== undefined), 'k3s applied on every node');
    const otherMasters = nodes.filter(
      (node) =>
        node !== init && first.proposal.members.find((m) => m.peerId === node.peerId)?.role === 'master',
    );
    for (const master of otherMasters)
      expect(master.driver.last).toMatchObject({
        role: 'master',
        serverUrl: `https://100.64.0.${nodes.indexOf(init) + 1}:6443`,
      });

    await stopNode(network, init);
    const rest = nodes.filter((node) => node !== init);
    await sleep(150);
    // Within the grace nothing changes.
    expect(rest.every((node) => node.service.decision?.hash === first.hash)).toBe(true);
    await until(
      () =>
        rest.every((node) => (node.service.decision?.proposal.epoch ?? 0) > first.proposal.epoch) &&
        new Set(rest.map((node) => node.service.decision?.hash)).size === 1,
      'a replacement decision',
    );
    const after = rest[0]!.service.decision!.proposal;
    expect(after.initMaster).toBe(init.peerId);
    expect(after.initMasterRetired).toBe(true);
    expect(after.members.filter((member) => member.role === 'master')).toHaveLength(3);
    expect(after.members.find((member) => member.peerId === init.peerId)).toBeUndefined();
    await until(
      () =>
        rest.every(
          (node) =>
            node.driver.last?.role !== 'worker' ||
            after.members.find((m) => m.peerId === node.peerId)?.role === 'worker',
        ),
      'k3s follows',
    );
    // Nobody runs --cluster-init again; the promoted node joins a surviving master.
    for (const node of rest)
      expect(node.driver.applied.some((applied) => applied.spec.role === 'init-master')).toBe(false);
    const promoted = rest.find(
      (node) =>
        otherMasters.indexOf(node) < 0 &&
        after.members.find((m) => m.peerId === node.peerId)?.role === 'master',
    )!;
    await until(() => promoted.driver.last?.role === 'master', 'the promoted node runs a server');
    expect(promoted.driver.last?.serverUrl).toMatch(/^https:\/\/100\.64\.0\.\d:6443$/);
    expect(promoted.driver.last?.serverUrl).not.toBe(`https://100.64.0.${nodes.indexOf(init) + 1}:6443`);
  });

  it('keeps every role over a full power cycle', async () => {
    const network = new FakeNetwork();
    const settings = config({ masters: 3 });
    const nodes = [0, 1, 2, 3, 4].map((index) => startNode(network, index, settings));
    await until(() => agreed(nodes, 5), 'a 5-member decision');
    const before = nodes[0]!.service.decision!;
    const votes = nodes.map((node) =>
      JSON.stringify(network.replicas.get(node.peerId)!.get('votes', node.peerId)),
    );
    for (const node of nodes) await stopNode(network, node);
    // Power on in reverse order; the ledger replicas (LevelDB in the daemon) survived.
    const again = [4, 3, 2, 1, 0].map((index) => startNode(network, index, settings));
    await until(
      () => again.every((node) => node.service.decision?.hash === before.hash),
      'the old decision everywhere',
    );
    await sleep(300);
    expect(again.every((node) => node.service.decision?.hash === before.hash)).toBe(true);
    // Nobody voted again.
    expect(
      again
        .reverse()
        .map((node) => JSON.stringify(network.replicas.get(node.peerId)!.get('votes', node.peerId))),
    ).toEqual(votes);
  });

  it('applies `role set` through a new epoch', async () => {
    const network = new FakeNetwork();
    const nodes = [0, 1, 2, 3].map((index) => startNode(network, index, config()));
    await until(() => agreed(nodes, 4), 'a 4-member decision');
    const first = nodes[0]!.service.decision!;
    const worker = first.proposal.members.find((member) => member.role === 'worker')!;
    await expect(nodes[2]!.service.setRole('nobody', 'worker')).rejects.toThrow(/no node "nobody"/);
    await expect(nodes[2]!.service.setRole(worker.name, 'boss')).rejects.toThrow(/unknown role/);
    await nodes[2]!.service.setRole(worker.name, 'master');
    await until(
      () =>
        nodes.every(
          (node) =>
            node.service.decision?.proposal.members.find((m) => m.peerId === worker.peerId)?.role ===
            'master',
        ),
      'the override committed',
    );
    const after = nodes[0]!.service.decision!.proposal;
    expect(after.epoch).toBeGreaterThan(first.proposal.epoch);
    expect(after.initMaster).toBe(first.proposal.initMaster);
    await nodes[0]!.service.setRole(worker.peerId, 'none');
    await until(
      () => nodes.every((node) => node.service.decision?.proposal.members.length === 3),
      'the node removed',
    );
    const removed = nodes.find((node) => node.peerId === worker.peerId)!;
    await until(() => removed.driver.cleared > 0, 'k3s stopped on the removed node');
  });

  it('a node joining later becomes a worker (master while the HA target is unmet)', async () => {
    const network = new FakeNetwork();
    const settings = config({ minimumNodes: 1, masters: 2 });
    const nodes = [startNode(network, 0, settings)];
    await until(() => agreed(nodes, 1), 'the single-node decision');
    nodes.push(startNode(network, 1, settings));
    await until(() => agreed(nodes, 2), 'the second node added');
    expect(nodes[0]!.service.decision!.proposal.members.map((member) => member.role)).toEqual([
      'master',
      'master',
    ]);
    nodes.push(startNode(network, 2, settings));
    await until(() => agreed(nodes, 3), 'the third node added');
    expect(
      nodes[0]!.service.decision!.proposal.members.filter((member) => member.role === 'master'),
    ).toHaveLength(2);
  });
});

describe('RolesService with the real driver and a fake k3s', () => {
  it('3 nodes: the init master publishes the node-token, the workers get it', async () => {
    const network = new FakeNetwork();
    const roots: string[] = [];
    for (let index = 0; index < 3; index++) {
      const root = await mkdtemp(join(tmpdir(), 'kmr-svc-'));
      roots.push(root);
      cleanups.push(() => rm(root, { recursive: true, force: true }));
    }
    const bins = await Promise.all(roots.map((root) => writeFakeK3s(root)));
    const nodes = roots.map((root, index) => {
      const peerId = `12D3KooWreal${index}`;
      const service = new RolesService({
        self: { peerId, name: `real-${index}` },
        config: config({ k3sBin: bins[index]!, dataDir: join(root, 'data') }),
        kv: network.join(peerId, `real-${index}`, `100.64.1.${index + 1}`),
        membership: network.membership(peerId),
        mesh: network.mesh(peerId),
        root,
        readyPollMs: 30,
        log: silentLogger(),
        settleMs: 30,
        tickMs: 40,
      });
      services.push(service);
      void service.start();
      return { peerId, service, root };
    });
    await until(
      () => nodes.every((node) => node.service.snapshot().k3s?.state === 'ready'),
      'k3s ready on every node',
    );
    const decision = nodes[0]!.service.decision!.proposal;
    const initIndex = nodes.findIndex((node) => node.peerId === decision.initMaster);
    for (const [index, node] of nodes.entries()) {
      const calls = await fakeK3sCalls(node.root);
      expect(calls).toHaveLength(1);
      if (index === initIndex)
        expect(calls[0]).toMatchObject({
          argv: [
            'server',
            '--cluster-init',
            '--node-ip',
            `100.64.1.${index + 1}`,
            '--flannel-iface',
            'kmesh0',
          ],
          K3S_TOKEN: '',
        });
      else
        expect(calls[0]).toEqual({
          argv: ['agent', '--node-ip', `100.64.1.${index + 1}`, '--flannel-iface', 'kmesh0'],
          K3S_TOKEN: 'K10fake::server:secret',
          K3S_URL: `https://100.64.1.${initIndex + 1}:6443`,
          EXTRA: '',
        });
    }
  });
});
