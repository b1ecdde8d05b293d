/**
 * `kairos-mesh vpn status` against a real control API server (unix socket) serving
 * registerVpnRoutes: table and JSON output, and the one-line answer when the VPN is off.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiServer } from '../src/daemon/api-server.ts';
import { registerVpnRoutes } from '../src/daemon/vpn-routes.ts';
import { apiSocketPath } from '../src/shared/control-api.ts';
import { silentLogger } from '../src/shared/logger.ts';
import type { VpnStatus } from '../src/vpn/index.ts';
import { cli } from './helpers/daemons.ts';

const STATUS: VpnStatus = {
  iface: 'kmesh0',
  backend: 'userspace',
  cidr: '100.90.0.0/16',
  overlayIp: '100.90.12.7',
  publicKey: 'miQyHirGozaEXbTnScu0DeXlkjIP9EymCUfgNCD+oSI=',
  listenPort: 51830,
  endpoints: ['198.18.0.2:51830'],
  peers: [
    {
      peerId: '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo',
      name: 'edge-2',
      overlayIp: '100.90.3.1',
      publicKey: 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=',
      endpoint: '127.0.0.1:40123',
      path: 'relay',
      established: true,
      lastHandshake: Date.now() - 5_000,
      rxBytes: 2_500_000,
      txBytes: 900,
    },
  ],
};

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function serve(vpn: { status(): VpnStatus } | undefined): Promise<string> {
  const dataDir = await mkdtemp(join(tmpdir(), 'kmv-cli-'));
  const api = new ApiServer(apiSocketPath(dataDir), silentLogger());
  registerVpnRoutes(api, vpn);
  await api.start();
  cleanups.push(async () => {
    await api.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  return dataDir;
}

describe('kairos-mesh vpn status', () => {
  it('prints the interface and a row per peer, or the status as JSON', async () => {
    const dataDir = await serve({ status: () => STATUS });
    const table = await cli(['vpn', 'status', '--data-dir', dataDir]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('kmesh0 (userspace), listen port 51830');
    expect(table.stdout).toContain('100.90.12.7 in 100.90.0.0/16');
    expect(table.stdout).toMatch(
      /edge-2\s+100\.90\.3\.1\s+relay\s+127\.0\.0\.1:40123\s+\d+s ago\s+2\.4 MiB\s+900 B/,
    );
    const json = await cli(['vpn', 'status', '--data-dir', dataDir, '--json']);
    expect(JSON.parse(json.stdout)).toEqual(STATUS);
  });

  it('says the VPN is off in one line, with a non-zero exit', async () => {
    const dataDir = await serve(undefined);
    const result = await cli(['vpn', 'status', '--data-dir', dataDir]);
    expect(result.code).toBe(69);
    expect(result.stderr.trim()).toBe(
      'kairos-mesh: the VPN is off on this node (--no-vpn): it runs coordination only',
    );
  });
});
