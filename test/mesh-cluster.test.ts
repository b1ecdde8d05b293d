import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MemberView, MeshStatus } from '../src/mesh/index.ts';
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

const NODES = 10;
const LOOPBACK = [...LOOPBACK_DAEMON_ARGS, '--role', 'none'];
// Short presence timers so the silent-failure test is quick; defaults are 5 s / 15 s.
const PRESENCE_CONFIG = 'kairos_mesh:\n  presence: { heartbeat_interval: 500ms, ttl: 3s }\n';

describe('ten daemons on loopback, through the CLI', () => {
  let root: Awaited<ReturnType<typeof tempDir>>;
  let token: string;
  const daemons: DaemonHandle[] = [];

  const peersOf = (daemon: DaemonHandle): Promise<MemberView[]> =>
    cliJson<MemberView[]>(['peers', '--data-dir', daemon.dataDir]);
  const aliveIds = async (daemon: DaemonHandle): Promise<string[]> =>
    (await peersOf(daemon))
      .filter((peer) => peer.alive)
      .map((peer) => peer.peerId)
      .sort();

  beforeAll(async () => {
    root = await tempDir('km-mesh-');
    token = (await cli(['token', 'new'])).stdout.trim();
    const configFile = join(root.path, 'presence.yaml');
    await writeFile(configFile, PRESENCE_CONFIG);
    LOOPBACK.push('--config', configFile);
    daemons.push(await startDaemon({ name: 'n0', dataDir: join(root.path, 'n0'), token, args: LOOPBACK }));
    const bootstrap = firstAddress(daemons[0]!);
    const rest = await Promise.all(
      Array.from({ length: NODES - 1 }, (_, i) =>
        startDaemon({
          name: `n${i + 1}`,
          dataDir: join(root.path, `n${i + 1}`),
          token,
          args: [...LOOPBACK, '--bootstrap', bootstrap],
        }),
      ),
    );
    daemons.push(...rest);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(daemons.map((daemon) => stopDaemon(daemon, 'SIGKILL')));
    await root.remove();
  });

  it('every node lists all ten as alive, having been given only the first', async () => {
    await waitFor('all ten see all ten alive', async () => {
      const views = await Promise.all(daemons.map(aliveIds));
      return views.every((view) => view.length === NODES);
    });
    const status = await cliJson<MeshStatus>(['status', '--data-dir', daemons[3]!.dataDir]);
    expect(status.members).toBe(NODES);
    expect(status.addresses.every((address) => address.endsWith(`/p2p/${status.peerId}`))).toBe(true);
    const names = (await peersOf(daemons[5]!)).map((peer) => peer.name).sort();
    expect(names).toEqual(Array.from({ length: NODES }, (_, i) => `n${i}`).sort());
  }, 60_000);

  it('a daemon with another token is admitted by nobody and admits nobody', async () => {
    const otherToken = (await cli(['token', 'new'])).stdout.trim();
    const intruder = await startDaemon({
      name: 'intruder',
      dataDir: join(root.path, 'intruder'),
      token: otherToken,
      args: [...LOOPBACK, '--bootstrap', firstAddress(daemons[0]!)],
    });
    daemons.push(intruder);
    await waitFor(
      'the first node to refuse the intruder',
      async () =>
        (await cliJson<MeshStatus>(['status', '--data-dir', daemons[0]!.dataDir])).admission.rejected > 0,
    );
    const intruderStatus = await cliJson<MeshStatus>(['status', '--data-dir', intruder.dataDir]);
    expect((await peersOf(intruder)).map((peer) => peer.name)).toEqual(['intruder']);
    expect(intruderStatus.admission.admitted).toBe(0);
    for (const daemon of daemons.slice(0, NODES)) {
      expect((await peersOf(daemon)).some((peer) => peer.peerId === intruderStatus.peerId)).toBe(false);
    }
    expect(await stopDaemon(intruder)).toBe(0);
  }, 60_000);

  it('a SIGKILLed member is seen not alive, and alive again with the same peer id after restart', async () => {
    const victim = daemons[4]!;
    const victimId = (await cliJson<MeshStatus>(['status', '--data-dir', victim.dataDir])).peerId;
    await stopDaemon(victim, 'SIGKILL');
    const observers = daemons.slice(0, NODES).filter((daemon) => daemon !== victim);
    await waitFor(
      'everyone to see the victim not alive',
      async () => (await Promise.all(observers.map(aliveIds))).every((ids) => !ids.includes(victimId)),
      10_000,
    );
    for (const observer of observers) {
      expect((await peersOf(observer)).find((peer) => peer.peerId === victimId)?.alive).toBe(false);
    }
    const restarted = await startDaemon({
      name: victim.name,
      dataDir: victim.dataDir,
      token,
      args: LOOPBACK,
    });
    daemons[4] = restarted;
    expect((await cliJson<MeshStatus>(['status', '--data-dir', restarted.dataDir])).peerId).toBe(victimId);
    await waitFor(
      'everyone to see the victim alive again',
      async () => (await Promise.all(observers.map(aliveIds))).every((ids) => ids.includes(victimId)),
      30_000,
    );
  }, 60_000);

  it('a frozen member (SIGSTOP: connections open, silent) is seen not alive after the TTL, and alive after SIGCONT', async () => {
    const frozen = daemons[7]!;
    const frozenId = (await cliJson<MeshStatus>(['status', '--data-dir', frozen.dataDir])).peerId;
    const observers = daemons.slice(0, NODES).filter((daemon) => daemon !== frozen);
    frozen.process.kill('SIGSTOP');
    try {
      await waitFor(
        'everyone to see the frozen member not alive',
        async () => (await Promise.all(observers.map(aliveIds))).every((ids) => !ids.includes(frozenId)),
        15_000,
      );
    } finally {
      frozen.process.kill('SIGCONT');
    }
    await waitFor(
      'everyone to see it alive again',
      async () => (await Promise.all(observers.map(aliveIds))).every((ids) => ids.includes(frozenId)),
      15_000,
    );
  }, 45_000);

  it('SIGTERM stops cleanly: exit 0, no process, no socket, and the CLI then says none runs', async () => {
    const daemon = daemons[9]!;
    expect(existsSync(join(daemon.dataDir, 'api.sock'))).toBe(true);
    expect(await stopDaemon(daemon)).toBe(0);
    expect(existsSync(join(daemon.dataDir, 'api.sock'))).toBe(false);
    expect(existsSync(join(daemon.dataDir, 'daemon.pid'))).toBe(false);
    expect(() => process.kill(daemon.process.pid!, 0)).toThrow();
    const result = await cli(['status', '--data-dir', daemon.dataDir]);
    expect(result.code).toBe(69);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/no kairos-mesh daemon is running/);
  }, 30_000);
});
