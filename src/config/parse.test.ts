import { describe, expect, it } from 'vitest';
import { parseConfigText } from './parse.ts';
import { resolveConfig } from './resolve.ts';
import { KairosError } from '../shared/errors.ts';

const context = { hostname: 'edge-1', defaultDataDir: '/var/lib/kairos-mesh', env: {} };

function errorOf(text: string): string {
  try {
    parseConfigText(text, 'c.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(KairosError);
    expect((error as KairosError).exitCode).toBe(78);
    return (error as KairosError).message;
  }
  throw new Error('config was accepted');
}

describe('cloud-config parsing', () => {
  it('reads the Kairos p2p block users already write', () => {
    const { config, warnings } = parseConfigText(
      `#cloud-config
users: [{ name: kairos }]
p2p:
  network_token: "kmt1_x"
  network_id: edge
  role: ""
  minimum_nodes: 3
  disable_dht: true
  vpn: { create: false, use: false }
  auto: { ha: { enable: true, master_nodes: 2, external_db: "" } }
k3s:
  args: [--disable=traefik]
  env: { K3S_DEBUG: true }
`,
      'c.yaml',
    );
    expect(warnings).toEqual([]);
    const resolved = resolveConfig(config, {}, context);
    expect(resolved).toMatchObject({
      token: 'kmt1_x',
      tokenSource: 'config',
      networkId: 'edge',
      role: 'auto',
      minimumNodes: 3,
      dht: 'off',
      masters: 3,
      name: 'edge-1',
      vpn: { enabled: false, useForK3s: false },
      k3s: { args: ['--disable=traefik'], env: { K3S_DEBUG: 'true' } },
    });
  });

  it('lets flags override the file, and the file override defaults', () => {
    const { config } = parseConfigText(
      'kairos_mesh: { name: from-file, dht: public, listen: [/ip4/127.0.0.1/tcp/1] }',
      'c.yaml',
    );
    const resolved = resolveConfig(config, { name: 'from-flag' }, context);
    expect(resolved.name).toBe('from-flag');
    expect(resolved.dht).toBe('public');
    expect(resolved.listen).toEqual(['/ip4/127.0.0.1/tcp/1']);
    expect(resolved.mdns).toBe(true);
    expect(resolveConfig({}, {}, context).vpn.cidr).toBe('100.90.0.0/16');
  });

  it('takes the token from flag, then env, then file', () => {
    const { config } = parseConfigText('p2p: { network_token: file }', 'c.yaml');
    expect(
      resolveConfig(config, { token: 'flag' }, { ...context, env: { KAIROS_MESH_TOKEN: 'env' } }).token,
    ).toBe('flag');
    expect(resolveConfig(config, {}, { ...context, env: { KAIROS_MESH_TOKEN: 'env' } }).token).toBe('env');
    expect(resolveConfig(config, {}, context).token).toBe('file');
  });

  it('reads the legacy kairos: block', () => {
    const { config } = parseConfigText('kairos: { network_token: old, role: worker }', 'c.yaml');
    expect(resolveConfig(config, {}, context)).toMatchObject({ token: 'old', role: 'worker' });
  });

  it('names the field and what was expected for every invalid value', () => {
    expect(errorOf('p2p: { minimum_nodes: three }')).toBe(
      'c.yaml: p2p.minimum_nodes: expected a whole number, got "three"',
    );
    expect(errorOf('p2p: { minimum_nodes: 0 }')).toMatch(/p2p\.minimum_nodes: expected a number above 0/);
    expect(errorOf('p2p: { role: boss }')).toMatch(/p2p\.role: expected one of: auto, master, worker, none/);
    expect(errorOf('p2p: { disable_dht: yes please }')).toMatch(/p2p\.disable_dht: expected true or false/);
    expect(errorOf('p2p: { vpn: { create: 1 } }')).toMatch(/p2p\.vpn\.create: expected true or false/);
    expect(errorOf('kairos_mesh: { dht: maybe }')).toMatch(
      /kairos_mesh\.dht: expected one of: private, public, off/,
    );
    expect(errorOf('kairos_mesh: { vpn: { cidr: 10.0.0.0 } }')).toMatch(
      /kairos_mesh\.vpn\.cidr: expected an IPv4 CIDR/,
    );
    expect(errorOf('kairos_mesh: { vpn: { listen_port: 70000 } }')).toMatch(
      /kairos_mesh\.vpn\.listen_port: expected a port/,
    );
    expect(errorOf('kairos_mesh: { vpn: { iface: this-name-is-too-long } }')).toMatch(
      /kairos_mesh\.vpn\.iface/,
    );
    expect(errorOf('kairos_mesh: { presence: { ttl: soon } }')).toMatch(
      /kairos_mesh\.presence\.ttl: expected a duration/,
    );
    expect(errorOf('k3s: { args: --flag }')).toMatch(/k3s\.args: expected a list of strings/);
    expect(errorOf('p2p: [1, 2]')).toMatch(/^c\.yaml: p2p: /);
    expect(errorOf('- a\n- b')).toMatch(/expected a YAML mapping/);
    expect(errorOf('p2p: {')).toMatch(/not valid YAML at line/);
  });

  it('never echoes a token in an error', () => {
    expect(errorOf('p2p: { network_token: 12345 }')).not.toContain('12345');
  });

  it('warns about unknown keys in the blocks it owns, not elsewhere', () => {
    const { warnings } = parseConfigText(
      'stages: { boot: [] }\np2p: { minimun_nodes: 3, vpn: { creat: true } }',
      'c.yaml',
    );
    expect(warnings).toEqual([
      'c.yaml: unknown key p2p.minimun_nodes (ignored)',
      'c.yaml: unknown key p2p.vpn.creat (ignored)',
    ]);
  });
});
