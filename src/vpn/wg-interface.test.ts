import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { run } from '../shared/exec.ts';
import { silentLogger } from '../shared/logger.ts';
import { WgInterface } from './wg-interface.ts';

const savedPath = process.env['PATH'];
afterEach(() => {
  process.env['PATH'] = savedPath;
});

describe.skipIf(process.getuid?.() !== 0)('WireGuard interface preflight', () => {
  it('names the package to install, or --no-vpn, when a tool is missing', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'kmv-path-'));
    try {
      process.env['PATH'] = empty;
      const error = await new WgInterface('kmvp0', 'auto', silentLogger())
        .preflight()
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'VPN_TOOL_MISSING' });
      expect((error as Error).message).toBe(
        'ip is missing: install iproute2, or `--no-vpn` runs coordination only',
      );
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('as an ordinary user, says root is needed or --no-vpn runs coordination only', async () => {
    const error = await new WgInterface('kmesh0', 'auto', silentLogger())
      .preflight(65534)
      .catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      'the VPN needs root (CAP_NET_ADMIN) to create kmesh0: run as root, or `--no-vpn` runs coordination only',
    );
  });

  it('with --vpn-backend kernel, either uses the module or says to use wireguard-go', async () => {
    const iface = new WgInterface('kmvk0', 'kernel', silentLogger());
    try {
      const result = await iface.ensure().catch((e: unknown) => e);
      const hasModule =
        (await run('ip', ['link', 'show', 'dev', 'kmvk0'], { allowFailure: true })).exitCode === 0;
      if (hasModule) expect(result).toBe('kernel');
      else {
        expect(result).toMatchObject({ code: 'VPN_NO_KERNEL_WIREGUARD' });
        expect((result as Error).message).toMatch(
          /use --vpn-backend userspace with wireguard-go, or `--no-vpn`/,
        );
      }
    } finally {
      await iface.remove();
    }
  });
});
