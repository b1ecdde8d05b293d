import { mkdtemp, readFile, rm, stat, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { K3sUserSettings } from '../config/config.ts';
import { silentLogger } from '../shared/logger.ts';
import { sleep } from '../shared/sleep.ts';
import { K3sDriver, type CommandRunner } from './k3s-driver.ts';
import { fakeK3sCalls, writeFakeK3s } from './testing/fake-k3s.ts';

const user = (overrides: Partial<K3sUserSettings> = {}): K3sUserSettings => ({
  enabled: true,
  args: [],
  env: {},
  replaceArgs: false,
  replaceEnv: false,
  ...overrides,
});

async function until(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(25);
  }
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function tempRoot(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'kmr-k3s-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  return root;
}

describe('K3sDriver, exec mode against a fake k3s', () => {
  it('runs the init master, reports ready, runs the hook once and exposes token and kubeconfig', async () => {
    const root = await tempRoot();
    const bin = await writeFakeK3s(root);
    const readyRoles: string[] = [];
    const driver = new K3sDriver({
      settings: {
        k3sService: 'exec',
        k3sBin: bin,
        clusterReadyHook: `echo "$KAIROS_MESH_ROLE $KAIROS_MESH_EPOCH" >> ${root}/hook.txt`,
      },
      log: silentLogger(),
      root,
      logDir: join(root, 'log'),
      readyPollMs: 20,
      onReady: (role) => readyRoles.push(role),
    });
    cleanups.unshift(() => driver.stop());
    await driver.apply(
      {
        role: 'init-master',
        nodeIp: '100.64.0.1',
        flannelIface: 'kmesh0',
        user: user({ args: ['--disable', 'traefik'], env: { EXTRA: 'x' } }),
      },
      1,
    );
    await until(() => readyRoles.length > 0);
    expect(readyRoles).toEqual(['init-master']);
    expect(driver.status().state).toBe('ready');
    const [call] = await fakeK3sCalls(root);
    expect(call).toEqual({
      argv: [
        'server',
        '--cluster-init',
        '--node-ip',
        '100.64.0.1',
        '--flannel-iface',
        'kmesh0',
        '--disable',
        'traefik',
      ],
      K3S_TOKEN: '',
      K3S_URL: '',
      EXTRA: 'x',
    });
    expect(await driver.readNodeToken()).toBe('K10fake::server:secret');
    expect(await driver.readKubeconfig()).toContain('https://127.0.0.1:6443');
    await until(async () => (await readFile(join(root, 'hook.txt'), 'utf8').catch(() => '')) !== '');
    expect(await readFile(join(root, 'hook.txt'), 'utf8')).toBe('init-master 1\n');
    expect(driver.status()).toMatchObject({ backend: 'exec', role: 'init-master', epoch: 1, service: 'k3s' });
    expect(JSON.stringify(driver.status())).not.toContain('secret');

    // The same command again (a later epoch that does not change this node) restarts nothing.
    const pid = (driver as unknown as { supervisor: { pid: number } }).supervisor.pid;
    await driver.apply(
      {
        role: 'init-master',
        nodeIp: '100.64.0.1',
        flannelIface: 'kmesh0',
        user: user({ args: ['--disable', 'traefik'], env: { EXTRA: 'x' } }),
      },
      2,
    );
    expect((driver as unknown as { supervisor: { pid: number } }).supervisor.pid).toBe(pid);
    expect(await fakeK3sCalls(root)).toHaveLength(1);

    await driver.stop();
    // Stopping the daemon stops the supervised k3s.
    expect(() => process.kill(pid, 0)).toThrow();
  });

  it('runs a worker as agent with K3S_URL and K3S_TOKEN and restarts it when it exits', async () => {
    const root = await tempRoot();
    const bin = await writeFakeK3s(root, { exitFirst: true });
    const driver = new K3sDriver({
      settings: { k3sService: 'exec', k3sBin: bin },
      log: silentLogger(),
      root,
      readyPollMs: 20,
      restartBaseMs: 50,
    });
    cleanups.unshift(() => driver.stop());
    await driver.apply(
      { role: 'worker', serverUrl: 'https://100.64.0.1:6443', token: 'K10tok', user: user() },
      3,
    );
    await until(() => driver.status().state === 'ready');
    const calls = await fakeK3sCalls(root);
    expect(calls).toHaveLength(2);
    for (const call of calls)
      expect(call).toMatchObject({
        argv: ['agent'],
        K3S_URL: 'https://100.64.0.1:6443',
        K3S_TOKEN: 'K10tok',
      });
    expect(driver.status().restarts).toBe(1);
  });
});

describe('K3sDriver, service managers', () => {
  it('writes the systemd drop-in and a 0600 env file, then reloads and restarts; a role change swaps services', async () => {
    const root = await tempRoot();
    const commands: string[] = [];
    const runCommand: CommandRunner = (file, args) => {
      commands.push([file, ...args].join(' '));
      return Promise.resolve({ stdout: '', stderr: '', exitCode: 1 });
    };
    await mkdir(join(root, 'run/systemd/system'), { recursive: true });
    await mkdir(join(root, 'lib/systemd/system'), { recursive: true });
    await writeFile(join(root, 'lib/systemd/system/k3s.service'), '');
    await writeFile(join(root, 'lib/systemd/system/k3s-agent.service'), '');
    const driver = new K3sDriver({
      settings: { k3sService: 'auto', k3sBin: '/usr/bin/k3s' },
      log: silentLogger(),
      root,
      runCommand,
      readyPollMs: 10_000,
    });
    cleanups.unshift(() => driver.stop());
    await driver.apply(
      {
        role: 'master',
        serverUrl: 'https://100.64.0.1:6443',
        token: 'K10tok',
        nodeIp: '100.64.0.2',
        flannelIface: 'kmesh0',
        user: user(),
      },
      2,
    );
    const dropIn = await readFile(join(root, 'etc/systemd/system/k3s.service.d/override.conf'), 'utf8');
    expect(dropIn).toContain(
      'ExecStart=\nExecStart=/usr/bin/k3s server --server https://100.64.0.1:6443 --node-ip 100.64.0.2 --flannel-iface kmesh0\n',
    );
    expect(await readFile(join(root, 'etc/sysconfig/k3s'), 'utf8')).toBe('K3S_TOKEN=K10tok\n');
    expect((await stat(join(root, 'etc/sysconfig/k3s'))).mode & 0o777).toBe(0o600);
    expect(commands.filter((command) => command.startsWith('systemctl'))).toEqual([
      'systemctl daemon-reload',
      'systemctl enable k3s',
      'systemctl restart k3s',
    ]);
    commands.length = 0;
    await driver.apply(
      { role: 'worker', serverUrl: 'https://100.64.0.1:6443', token: 'K10tok', user: user() },
      3,
    );
    expect(commands.filter((command) => command.startsWith('systemctl'))).toEqual([
      'systemctl disable --now k3s',
      'systemctl daemon-reload',
      'systemctl enable k3s-agent',
      'systemctl restart k3s-agent',
    ]);
    expect(await readFile(join(root, 'etc/sysconfig/k3s-agent'), 'utf8')).toBe(
      'K3S_TOKEN=K10tok\nK3S_URL=https://100.64.0.1:6443\n',
    );
  });

  it('writes OpenRC command_args and env when OpenRC runs', async () => {
    const root = await tempRoot();
    const commands: string[] = [];
    const runCommand: CommandRunner = (file, args) => {
      commands.push([file, ...args].join(' '));
      return Promise.resolve({ stdout: '', stderr: '', exitCode: 1 });
    };
    await mkdir(join(root, 'run/openrc'), { recursive: true });
    await mkdir(join(root, 'etc/init.d'), { recursive: true });
    await writeFile(join(root, 'etc/init.d/k3s'), '');
    const driver = new K3sDriver({
      settings: { k3sService: 'auto', k3sBin: 'k3s' },
      log: silentLogger(),
      root,
      runCommand,
      readyPollMs: 10_000,
    });
    cleanups.unshift(() => driver.stop());
    await driver.apply({ role: 'init-master', user: user() }, 1);
    expect(await readFile(join(root, 'etc/rancher/k3s/k3s.env'), 'utf8')).toContain(
      "command_args='server --cluster-init'",
    );
    expect(commands.filter((command) => command.startsWith('rc-'))).toEqual([
      'rc-update add k3s default',
      'rc-service k3s restart',
    ]);
  });

  it('falls back to supervising k3s when systemd has no k3s unit', async () => {
    const root = await tempRoot();
    const bin = await writeFakeK3s(root);
    await mkdir(join(root, 'run/systemd/system'), { recursive: true });
    const driver = new K3sDriver({
      settings: { k3sService: 'auto', k3sBin: bin },
      log: silentLogger(),
      root,
      readyPollMs: 20,
    });
    cleanups.unshift(() => driver.stop());
    await driver.apply({ role: 'init-master', user: user() }, 1);
    expect(driver.status().backend).toBe('exec');
    await until(() => driver.status().state === 'ready');
  });
});
