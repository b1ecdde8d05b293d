import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MemberView } from '../src/mesh/index.ts';
import {
  cli,
  cliJson,
  startDaemon,
  stopDaemon,
  tempDir,
  waitFor,
  type DaemonHandle,
} from './helpers/daemons.ts';
import { BridgeLab, isRoot } from './helpers/netns.ts';

// Root only: three network namespaces on one bridge (198.18.0.0/24), no --bootstrap at all.
describe.skipIf(!isRoot())('mDNS discovery between namespaces', () => {
  const lab = new BridgeLab('kmdns');
  const daemons: DaemonHandle[] = [];
  let root: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    lab.setUp();
    root = await tempDir('km-mdns-');
    const token = (await cli(['token', 'new'])).stdout.trim();
    for (let i = 1; i <= 3; i += 1) {
      const ns = lab.addHost(i, `198.18.0.${i}/24`);
      daemons.push(
        await startDaemon({
          name: `m${i}`,
          dataDir: join(root.path, `m${i}`),
          token,
          prefix: ['ip', 'netns', 'exec', ns],
          args: ['--listen', '/ip4/0.0.0.0/tcp/4001', '--no-vpn', '--dht', 'off', '--role', 'none'],
        }),
      );
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all(daemons.map((daemon) => stopDaemon(daemon, 'SIGKILL')));
    lab.tearDown();
    await root.remove();
  });

  it('three nodes find each other by mDNS alone', async () => {
    await waitFor(
      'all three to see all three alive',
      async () => {
        const views = await Promise.all(
          daemons.map((daemon) => cliJson<MemberView[]>(['peers', '--data-dir', daemon.dataDir])),
        );
        return views.every((view) => view.filter((peer) => peer.alive).length === 3);
      },
      30_000,
    );
    const view = await cliJson<MemberView[]>(['peers', '--data-dir', daemons[0]!.dataDir]);
    expect(view.map((peer) => peer.name).sort()).toEqual(['m1', 'm2', 'm3']);
    expect(
      view
        .find((peer) => peer.name === 'm2')
        ?.addresses.some((address) => address.includes('/ip4/198.18.0.2/')),
    ).toBe(true);
  }, 45_000);
});
