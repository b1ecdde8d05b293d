import { describe, expect, it } from 'vitest';
import type { K3sUserSettings } from '../config/config.ts';
import {
  missingForJoin,
  planK3s,
  renderEnvFile,
  renderOpenRcArgs,
  renderSystemdDropIn,
  rewriteKubeconfig,
  serverUrl,
} from './k3s-plan.ts';

const user = (overrides: Partial<K3sUserSettings> = {}): K3sUserSettings => ({
  enabled: true,
  args: [],
  env: {},
  replaceArgs: false,
  replaceEnv: false,
  ...overrides,
});

describe('planK3s', () => {
  it('starts the init master with --cluster-init on the overlay', () => {
    expect(
      planK3s({
        role: 'init-master',
        nodeIp: '100.64.0.1',
        flannelIface: 'kmesh0',
        user: user({ args: ['--tls-san', 'x'] }),
      }),
    ).toEqual({
      service: 'k3s',
      subcommand: 'server',
      args: ['--cluster-init', '--node-ip', '100.64.0.1', '--flannel-iface', 'kmesh0', '--tls-san', 'x'],
      env: {},
    });
  });

  it('uses the external datastore instead of --cluster-init and keeps every other arg', () => {
    const command = planK3s({
      role: 'init-master',
      externalDb: 'mysql://db',
      nodeIp: '100.64.0.1',
      flannelIface: 'kmesh0',
      user: user({ args: ['--disable', 'traefik'] }),
    });
    expect(command.args).toEqual([
      '--datastore-endpoint',
      'mysql://db',
      '--node-ip',
      '100.64.0.1',
      '--flannel-iface',
      'kmesh0',
      '--disable',
      'traefik',
    ]);
    const joining = planK3s({
      role: 'master',
      externalDb: 'mysql://db',
      token: 't',
      serverUrl: serverUrl('100.64.0.1'),
      user: user(),
    });
    expect(joining.args).toEqual(['--datastore-endpoint', 'mysql://db']);
    expect(joining.env).toEqual({ K3S_TOKEN: 't' });
  });

  it('joins other masters to a master and workers as agents', () => {
    expect(
      planK3s({
        role: 'master',
        serverUrl: serverUrl('100.64.0.1'),
        token: 'K10::server:x',
        nodeIp: '100.64.0.2',
        flannelIface: 'kmesh0',
        user: user(),
      }),
    ).toEqual({
      service: 'k3s',
      subcommand: 'server',
      args: ['--server', 'https://100.64.0.1:6443', '--node-ip', '100.64.0.2', '--flannel-iface', 'kmesh0'],
      env: { K3S_TOKEN: 'K10::server:x' },
    });
    expect(
      planK3s({
        role: 'worker',
        serverUrl: serverUrl('fd00::1'),
        token: 't',
        user: user({ env: { A: 'b' } }),
      }),
    ).toEqual({
      service: 'k3s-agent',
      subcommand: 'agent',
      args: [],
      env: { K3S_URL: 'https://[fd00::1]:6443', K3S_TOKEN: 't', A: 'b' },
    });
  });

  it('replaces our args and env only when replace_args / replace_env say so', () => {
    const command = planK3s({
      role: 'worker',
      serverUrl: 'https://m:6443',
      token: 't',
      nodeIp: '100.64.0.3',
      flannelIface: 'kmesh0',
      user: user({
        args: ['--foo'],
        env: { K3S_URL: 'https://other:6443' },
        replaceArgs: true,
        replaceEnv: true,
      }),
    });
    expect(command.args).toEqual(['--foo']);
    expect(command.env).toEqual({ K3S_URL: 'https://other:6443' });
    // Without replace_env the user's value still wins over ours for the same name.
    expect(
      planK3s({
        role: 'worker',
        serverUrl: 'https://m:6443',
        token: 't',
        user: user({ env: { K3S_TOKEN: 'mine' } }),
      }).env,
    ).toEqual({
      K3S_URL: 'https://m:6443',
      K3S_TOKEN: 'mine',
    });
  });

  it('says what a joiner still lacks', () => {
    expect(missingForJoin({ role: 'init-master' })).toBeUndefined();
    expect(missingForJoin({ role: 'worker', serverUrl: 'https://m:6443' })).toMatch(/join token/);
    expect(missingForJoin({ role: 'worker', token: 't' })).toMatch(/address/);
    expect(missingForJoin({ role: 'master', token: 't', externalDb: 'x' })).toBeUndefined();
  });
});

describe('service files', () => {
  const command = planK3s({
    role: 'master',
    serverUrl: 'https://100.64.0.1:6443',
    token: 'sec$ret',
    user: user({ args: ['--node-label', 'a b'] }),
  });

  it('clears ExecStart then sets ours, quoting what systemd would split', () => {
    const text = renderSystemdDropIn('/usr/bin/k3s', command);
    expect(text).toContain(
      'ExecStart=\nExecStart=/usr/bin/k3s server --server https://100.64.0.1:6443 --node-label "a b"\n',
    );
    expect(text).toContain('EnvironmentFile=-/etc/sysconfig/k3s');
    expect(text).not.toContain('sec');
  });

  it('writes env files and OpenRC args in shell quoting', () => {
    expect(renderEnvFile(command.env)).toBe("K3S_TOKEN='sec$ret'\n");
    expect(renderOpenRcArgs(command)).toContain(
      `command_args='server --server https://100.64.0.1:6443 --node-label '\\''a b'\\'''`,
    );
  });
});

describe('rewriteKubeconfig', () => {
  it('points the loopback server address at the master', () => {
    const yaml = 'clusters:\n- cluster:\n    server: https://127.0.0.1:6443\n  name: default\n';
    expect(rewriteKubeconfig(yaml, '100.64.0.7')).toContain('server: https://100.64.0.7:6443');
    expect(rewriteKubeconfig('server: https://localhost:6443', 'fd00::7')).toBe(
      'server: https://[fd00::7]:6443',
    );
    expect(rewriteKubeconfig('server: https://10.0.0.1:6443', '100.64.0.7')).toBe(
      'server: https://10.0.0.1:6443',
    );
  });
});
