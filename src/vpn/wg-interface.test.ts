import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
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
    const dir = await mkdtemp(join(tmpdir(), 'kmv-user-'));
    try {
      const script = join(dir, 'preflight.ts');
      const here = import.meta.dirname;
      await writeFile(
        script,
        `import { WgInterface } from '${join(here, 'wg-interface.ts')}';\n` +
          `import { silentLogger } from '${join(here, '..', 'shared', 'logger.ts')}';\n` +
          `await new WgInterface('kmesh0', 'auto', silentLogger()).preflight().catch((e) => console.log(e.message));\n`,
      );
      await chmod(dir, 0o755);
      await chmod(script, 0o644);
      const { stdout } = await run('setpriv', [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        script,
      ]);
      expect(stdout).toBe(
        'the VPN needs root (CAP_NET_ADMIN) to create kmesh0: run as root, or `--no-vpn` runs coordination only',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
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
