/**
 * `kairos-mesh roles`, `role set` and `kubeconfig` against a real control API server serving
 * registerRolesRoutes, backed by two RolesService instances over the in-memory fake ledger.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiServer } from '../src/daemon/api-server.ts';
import { registerRolesRoutes } from '../src/daemon/roles-routes.ts';
import { RolesService, type RolesSnapshot } from '../src/roles/index.ts';
import { FakeNetwork } from '../src/roles/testing/fake-ledger.ts';
import { RecordingDriver } from '../src/roles/testing/recording-driver.ts';
import { apiSocketPath } from '../src/shared/control-api.ts';
import { silentLogger } from '../src/shared/logger.ts';
import { sleep } from '../src/shared/sleep.ts';
import { cli, cliJson } from './helpers/daemons.ts';

const user = { enabled: true, args: [], env: {}, replaceArgs: false, replaceEnv: false };
const network = new FakeNetwork();
const services: RolesService[] = [];
let api: ApiServer;
let dataDir: string;

beforeAll(async () => {
  for (const [index, role] of (['master', 'worker'] as const).entries()) {
    const peerId = `12D3KooWcli${index}`;
    const service = new RolesService({
      self: { peerId, name: `cli-${index}` },
      config: {
        role,
        minimumNodes: 2,
        autoRoles: true,
        masters: 1,
        masterGraceMs: 60_000,
        k3s: user,
        k3sAgent: user,
        k3sService: 'exec',
        k3sBin: 'k3s',
        dataDir: '/nonexistent',
        vpn: { useForK3s: true, iface: 'kmesh0' },
      },
      kv: network.join(peerId, `cli-${index}`, `100.64.2.${index + 1}`),
      membership: network.membership(peerId),
      mesh: network.mesh(peerId),
      driver: new RecordingDriver(),
      log: silentLogger(),
      settleMs: 20,
      tickMs: 40,
    });
    services.push(service);
    await service.start();
  }
  const deadline = Date.now() + 10_000;
  while (services.some((service) => service.snapshot().k3s?.state !== 'ready')) {
    if (Date.now() > deadline) throw new Error('no decision');
    await sleep(20);
  }
  dataDir = await mkdtemp(join(tmpdir(), 'kmr-cli-'));
  api = new ApiServer(apiSocketPath(dataDir), silentLogger());
  registerRolesRoutes(api, services[1]!);
  await api.start();
});

afterAll(async () => {
  await api.stop();
  for (const service of services) await service.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('kairos-mesh roles / role set / kubeconfig', () => {
  it('prints the committed decision as a table and as JSON', async () => {
    const snapshot = await cliJson<RolesSnapshot>(['roles', '--data-dir', dataDir]);
    expect(snapshot.decision).toMatchObject({
      epoch: 1,
      initMaster: { name: 'cli-0' },
      workers: [{ name: 'cli-1' }],
    });
    expect(snapshot.nodes.map((node) => [node.name, node.role, node.state])).toEqual([
      ['cli-0', 'init-master', 'alive'],
      ['cli-1', 'worker', 'alive'],
    ]);
    const table = await cli(['roles', '--data-dir', dataDir]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(
      /^epoch 1 \([0-9a-f]{12}\): init master cli-0, 1 master\(s\) of 1 wanted, 1 worker\(s\)$/m,
    );
    expect(table.stdout).toMatch(/^cli-1 \*\s+12D3KooWcli1\s+worker\s+worker\s+alive\s+epoch 1$/m);
  });

  it('fetches the kubeconfig from the master, to stdout or a 0600 file', async () => {
    const printed = await cli(['kubeconfig', '--data-dir', dataDir]);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toContain('server: https://100.64.2.1:6443');
    const file = join(dataDir, 'kube', 'config');
    const written = await cli(['kubeconfig', '--data-dir', dataDir, '-o', file]);
    expect(written.stdout).toBe(`wrote the kubeconfig from cli-0 to ${file}\n`);
    expect(await readFile(file, 'utf8')).toContain('https://100.64.2.1:6443');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('sets a role, and refuses unknown nodes and roles with one line', async () => {
    const unknown = await cli(['role', 'set', 'nobody', 'master', '--data-dir', dataDir]);
    expect(unknown.code).toBe(65);
    expect(unknown.stderr).toBe('kairos-mesh: no node "nobody" is known (see `kairos-mesh roles`)\n');
    const badRole = await cli(['role', 'set', 'cli-1', 'boss', '--data-dir', dataDir]);
    expect(badRole.code).toBe(64);
    const set = await cli(['role', 'set', 'cli-1', 'none', '--data-dir', dataDir]);
    expect(set.stdout).toMatch(
      /^cli-1 \(12D3KooWcli1\): set to none; it applies once the next epoch commits/,
    );
    const deadline = Date.now() + 10_000;
    while (services[0]!.decision?.proposal.members.length !== 1) {
      if (Date.now() > deadline) throw new Error('override did not commit');
      await sleep(20);
    }
    const snapshot = await cliJson<RolesSnapshot>(['roles', '--data-dir', dataDir]);
    expect(snapshot.nodes.find((node) => node.name === 'cli-1')).toMatchObject({
      role: 'none',
      override: 'none',
    });
  });
});
