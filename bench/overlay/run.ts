/**
 * bench/overlay: TCP throughput (iperf3, 1 and 4 streams) and ping RTT between two network
 * namespaces over (a) bare wireguard-go configured by hand, (b) the overlay on its direct
 * path, (c) the overlay forced onto the relay path (WireGuard datagrams over a libp2p
 * stream), all in one run; plus the time from a node starting to its first overlay ping.
 * Root only. Prints one JSON document.
 *
 *   npx node bench/overlay/run.ts [--seconds 5] [--rounds 3]
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../src/shared/exec.ts';
import { sleep } from '../../src/shared/sleep.ts';
import { median } from '../lib/proc.ts';
import {
  Topology,
  makeSharedDir,
  ns,
  pings,
  readStatus,
  removeDir,
  removeLink,
  startNode,
  stopNode,
  waitFor,
  waitStarted,
  type VpnNode,
} from '../../test/helpers/vpn-netns.ts';

const PREFIX = 'kmvb';
const option = (name: string, fallback: number): number => {
  const index = process.argv.indexOf(name);
  return index < 0 ? fallback : Number(process.argv[index + 1]) || fallback;
};
const SECONDS = option('--seconds', 5);
const ROUNDS = option('--rounds', 3);
const UNDERLAY = ['198.18.30.1', '198.18.30.2'] as const;

interface PathFigures {
  tcp1Mbps: number;
  tcp4Mbps: number;
  rttAvgMs: number;
  rttMaxMs: number;
}

async function iperf(from: string, server: string, to: string, streams: number): Promise<number> {
  const child = spawn('ip', ['netns', 'exec', server, 'iperf3', '-s', '-1', '-p', '5299'], {
    stdio: 'ignore',
  });
  try {
    await sleep(300);
    const { stdout } = await run('ip', [
      'netns',
      'exec',
      from,
      'iperf3',
      '-c',
      to,
      '-p',
      '5299',
      '-t',
      String(SECONDS),
      '-P',
      String(streams),
      '-J',
    ]);
    const result = JSON.parse(stdout) as { end: { sum_received: { bits_per_second: number } } };
    return Math.round(result.end.sum_received.bits_per_second / 1e6);
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
  }
}

async function pingStats(from: string, to: string): Promise<{ avg: number; max: number }> {
  const { stdout } = await run('ip', ['netns', 'exec', from, 'ping', '-c', '20', '-i', '0.1', '-q', to]);
  const match = /= [\d.]+\/([\d.]+)\/([\d.]+)\//.exec(stdout);
  return { avg: Number(match?.[1] ?? NaN), max: Number(match?.[2] ?? NaN) };
}

async function measure(a: string, b: string, target: string): Promise<PathFigures> {
  const rtt = await pingStats(a, target);
  return {
    tcp1Mbps: await iperf(a, b, target, 1),
    tcp4Mbps: await iperf(a, b, target, 4),
    rttAvgMs: rtt.avg,
    rttMaxMs: rtt.max,
  };
}

/** (a) Two wireguard-go interfaces configured by hand: the ceiling for the overlay. */
async function startBare(dir: string, a: string, b: string): Promise<string> {
  const keys = [];
  for (let i = 0; i < 2; i++) {
    const privateKey = (await run('wg', ['genkey'])).stdout.trim();
    const file = join(dir, `bare${i}.key`);
    await writeFile(file, `${privateKey}\n`, { mode: 0o600 });
    keys.push({ file, publicKey: (await run('wg', ['pubkey'], { input: `${privateKey}\n` })).stdout.trim() });
  }
  const spaces = [a, b];
  for (let i = 0; i < 2; i++) {
    const iface = `${PREFIX}bare${i}`;
    const other = 1 - i;
    await ns(spaces[i]!, ['wireguard-go', iface]);
    await ns(spaces[i]!, [
      'wg',
      'set',
      iface,
      'private-key',
      keys[i]!.file,
      'listen-port',
      '51900',
      'peer',
      keys[other]!.publicKey,
      'allowed-ips',
      `100.65.0.${other + 1}/32`,
      'endpoint',
      `${UNDERLAY[other]}:51900`,
    ]);
    await ns(spaces[i]!, ['ip', 'addr', 'add', `100.65.0.${i + 1}/24`, 'dev', iface]);
    await ns(spaces[i]!, ['ip', 'link', 'set', iface, 'mtu', '1380', 'up']);
  }
  await waitFor('bare WireGuard ping', 10_000, async () =>
    (await pings(a, '100.65.0.2')) ? true : undefined,
  );
  return '100.65.0.2';
}

/** (b)/(c) Two overlay nodes; returns B's overlay address and how long after B started A could ping it. */
async function startOverlay(
  dir: string,
  a: string,
  b: string,
  forceRelay: boolean,
  nodes: VpnNode[],
): Promise<{ target: string; firstPingMs: number }> {
  const tag = forceRelay ? 'r' : 'd';
  const spec = (i: number): VpnNode['spec'] => ({
    dir: join(dir, tag),
    name: `${tag}${i}`,
    dataDir: join(dir, tag, `data${i}`),
    iface: `${PREFIX}${tag}${i}`,
    cidr: forceRelay ? '100.67.0.0/16' : '100.66.0.0/16',
    listenPort: forceRelay ? 51831 : 51830,
    libp2pListen: `/ip4/${UNDERLAY[i]}/tcp/${forceRelay ? 4101 : 4100}`,
    forceRelay,
  });
  const first = startNode(a, spec(0));
  nodes.push(first);
  await waitStarted(first);
  const joinedAt = Date.now();
  const second = startNode(b, spec(1));
  nodes.push(second);
  const status = await waitStarted(second);
  await waitFor('first overlay ping', 30_000, async () =>
    (await pings(a, status.overlayIp!, 1)) ? true : undefined,
  );
  return { target: status.overlayIp!, firstPingMs: Date.now() - joinedAt };
}

const topology = new Topology(PREFIX);
const dir = await makeSharedDir(PREFIX);
const nodes: VpnNode[] = [];
let a = '';
let b = '';
try {
  a = await topology.addNamespace('a');
  b = await topology.addNamespace('b');
  await topology.link(a, b, 'l', `${UNDERLAY[0]}/24`, `${UNDERLAY[1]}/24`);
  const targets = {
    bare: await startBare(dir, a, b),
    direct: await startOverlay(dir, a, b, false, nodes),
    relay: await startOverlay(dir, a, b, true, nodes),
  };
  // Rounds interleave the three paths so drift on a shared 2-core machine hits all alike.
  const samples: Record<'bare' | 'direct' | 'relay', PathFigures[]> = { bare: [], direct: [], relay: [] };
  for (let round = 0; round < ROUNDS; round++) {
    samples.bare.push(await measure(a, b, targets.bare));
    samples.direct.push(await measure(a, b, targets.direct.target));
    samples.relay.push(await measure(a, b, targets.relay.target));
  }
  const paths = await Promise.all(nodes.map(async (node) => (await readStatus(node))?.peers[0]?.path));
  const summary = (list: PathFigures[]): PathFigures => ({
    tcp1Mbps: median(list.map((f) => f.tcp1Mbps)),
    tcp4Mbps: median(list.map((f) => f.tcp4Mbps)),
    rttAvgMs: median(list.map((f) => f.rttAvgMs)),
    rttMaxMs: Math.max(...list.map((f) => f.rttMaxMs)),
  });
  const bare = summary(samples.bare);
  const direct = summary(samples.direct);
  const relay = summary(samples.relay);
  const ratio = (x: number, y: number): number => Math.round((x / y) * 1000) / 1000;
  process.stdout.write(
    `${JSON.stringify(
      {
        bench: 'overlay',
        secondsPerTest: SECONDS,
        rounds: ROUNDS,
        cores: (await run('nproc', [])).stdout.trim(),
        note: 'medians over rounds; tcp in Mbit/s received; rtt from 20 pings at 100 ms',
        bare,
        direct: { ...direct, firstPingMs: targets.direct.firstPingMs, paths: paths.slice(0, 2) },
        relay: { ...relay, firstPingMs: targets.relay.firstPingMs, paths: paths.slice(2, 4) },
        ratios: {
          directVsBare1: ratio(direct.tcp1Mbps, bare.tcp1Mbps),
          directVsBare4: ratio(direct.tcp4Mbps, bare.tcp4Mbps),
          relayVsDirect1: ratio(relay.tcp1Mbps, direct.tcp1Mbps),
          relayVsDirect4: ratio(relay.tcp4Mbps, direct.tcp4Mbps),
        },
        goals: { directVsBare: '>= 0.95', relayVsDirect: '>= 0.30', firstPingMs: '<= 3000' },
        samples,
      },
      null,
      2,
    )}\n`,
  );
} finally {
  for (const node of nodes) await stopNode(node);
  for (const [space, iface] of [
    [a, `${PREFIX}bare0`],
    [b, `${PREFIX}bare1`],
    [a, `${PREFIX}d0`],
    [b, `${PREFIX}d1`],
    [a, `${PREFIX}r0`],
    [b, `${PREFIX}r1`],
  ] as const)
    if (space !== '') await removeLink(space, iface);
  await topology.destroy();
  await removeDir(dir);
}
