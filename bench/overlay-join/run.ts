/**
 * bench/overlay-join: with real `kairos-mesh up` daemons in network namespaces on one bridge
 * (found by mDNS, as on a LAN), the time from a new node's process start, and from its "up"
 * line, to the first ping answered over the overlay from an existing member. Each round a
 * fresh node (new identity, new data dir) joins a settled 3-node network, then leaves.
 * Root only. Prints one JSON document.
 *
 *   npx node bench/overlay-join/run.ts [--rounds 5]
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiClient } from '../../src/cli/api-client.ts';
import { run } from '../../src/shared/exec.ts';
import { sleep } from '../../src/shared/sleep.ts';
import type { VpnStatus } from '../../src/vpn/index.ts';
import { cli, startDaemon, stopDaemon, tempDir, type DaemonHandle } from '../../test/helpers/daemons.ts';
import { NETNS_DAEMON_ARGS, Topology, ns, pings, removeLink, waitFor } from '../../test/helpers/vpn-netns.ts';
import { median } from '../lib/proc.ts';

const PREFIX = 'kmoj';
const index = process.argv.indexOf('--rounds');
const ROUNDS = index < 0 ? 5 : Number(process.argv[index + 1]) || 5;
const MEMBERS = 3;

const topology = new Topology(PREFIX);
const root = await tempDir('kmoj-');
const daemons: DaemonHandle[] = [];
const spaces: string[] = [];

async function overlayIp(daemon: DaemonHandle): Promise<string | undefined> {
  const status = await new ApiClient(daemon.dataDir).get<VpnStatus>('/vpn/status').catch(() => undefined);
  return status?.overlayIp ?? undefined;
}

try {
  const token = (await cli(['token', 'new'])).stdout.trim();
  const configFile = join(root.path, 'config.yaml');
  await writeFile(configFile, '#cloud-config\nkairos_mesh:\n  vpn:\n    peer_grace: 5s\n');
  spaces.push(...(await topology.bridge(MEMBERS + 1, '198.18.60')));
  for (let i = 1; i <= MEMBERS + 1; i++)
    await ns(spaces[i - 1]!, ['ip', 'route', 'add', '224.0.0.0/4', 'dev', `${PREFIX}n${i}a`]);
  const start = (slot: number, name: string): Promise<DaemonHandle> =>
    startDaemon({
      name,
      dataDir: join(root.path, name),
      token,
      prefix: ['ip', 'netns', 'exec', spaces[slot - 1]!],
      args: [...['--config', configFile, ...NETNS_DAEMON_ARGS], ...['--vpn-iface', `${PREFIX}wg${slot}`]],
    });
  for (let i = 1; i <= MEMBERS; i++) daemons.push(await start(i, `m${i}`));
  const memberIps = await Promise.all(
    daemons.map((daemon) => waitFor(`${daemon.name} overlay address`, 30_000, () => overlayIp(daemon))),
  );
  await waitFor('members to reach each other', 60_000, async () =>
    (await pings(spaces[0]!, memberIps[1]!)) && (await pings(spaces[0]!, memberIps[2]!)) ? true : undefined,
  );

  const rounds: Array<{ fromStartMs: number; fromUpMs: number }> = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const startedAt = Date.now();
    const joiner = await start(MEMBERS + 1, `j${round}`);
    const upAt = Date.now();
    daemons.push(joiner);
    const ip = await waitFor('joiner overlay address', 30_000, () => overlayIp(joiner));
    await waitFor('first overlay ping to the joiner', 60_000, async () =>
      (await pings(spaces[0]!, ip, 1)) ? true : undefined,
    );
    const answeredAt = Date.now();
    rounds.push({ fromStartMs: answeredAt - startedAt, fromUpMs: answeredAt - upAt });
    await stopDaemon(joiner);
    daemons.pop();
    // The members drop the joiner after its grace; the next joiner is a new node.
    await sleep(1_000);
  }
  process.stdout.write(
    `${JSON.stringify(
      {
        bench: 'overlay-join',
        cores: (await run('nproc', [])).stdout.trim(),
        members: MEMBERS,
        note: 'a new node joins a settled LAN (mDNS); time to the first ping answered over the overlay from a member',
        firstPingFromStartMs: median(rounds.map((r) => r.fromStartMs)),
        firstPingFromUpMs: median(rounds.map((r) => r.fromUpMs)),
        goal: { firstPingMs: '<= 3000' },
        rounds,
      },
      null,
      2,
    )}\n`,
  );
} finally {
  for (const daemon of daemons) await stopDaemon(daemon, 'SIGKILL');
  for (let i = 0; i < spaces.length; i++) await removeLink(spaces[i]!, `${PREFIX}wg${i + 1}`);
  await topology.destroy();
  await root.remove();
}
