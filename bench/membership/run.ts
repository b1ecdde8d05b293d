/**
 * Membership benchmark: N real `kairos-mesh up` daemons vs N Debian `serf` agents on
 * loopback, same N, same run. Prints one JSON document.
 *
 *   npx node bench/membership/run.ts [--nodes 10,25] [--idle-seconds 60] [--watch-seconds 60]
 *
 * Idle traffic is counted by nftables on each system's port range during a window nobody
 * polls; false "not alive" are counted in a later watch window.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import type { MemberView } from '../../src/mesh/index.ts';
import { startCluster, stopCluster } from '../lib/cluster.ts';
import { loadAverage, median, sampleProcess, type ProcSample } from '../lib/proc.ts';
import { PortCounters } from '../lib/port-counters.ts';

const execFileAsync = promisify(execFile);
// Below Linux's ephemeral range (32768-60999), so no outgoing connection holds one of them.
const MESH_PORT_BASE = 21_000;
const SERF_PORT_BASE = 22_000;
const SERF_RPC_PORT_BASE = 23_000;
const counters = PortCounters.available()
  ? new PortCounters('kmbench_membership', {
      mesh: [MESH_PORT_BASE, MESH_PORT_BASE + 999],
      serf: [SERF_PORT_BASE, SERF_PORT_BASE + 999],
    })
  : undefined;

interface Member {
  name: string;
  process: ChildProcess;
  /** Names this member reports alive. */
  alive: () => Promise<string[]>;
  /**
   * When this member came to see every member it sees alive (epoch ms): the daemon's own
   * timestamps, so the convergence needs no tight polling that would load the daemons measured.
   */
  allAliveSince?: () => Promise<number>;
  /** What this member holds of the shared state (equal on all members once it settled). */
  state?: () => Promise<string>;
  /** How many other members this one is connected to (the mesh fills in after convergence). */
  connectedMembers?: () => Promise<number>;
}

interface SystemFigures {
  nodes: number;
  convergeMs: number;
  /** After convergence, until every member holds the same ledger state. */
  settleMs: number;
  /** After convergence, until every member is connected to every other (null: not tracked). */
  fullMeshMs: number | null;
  failureDetectMs: number;
  rssMiBMedian: number;
  idleCpuPercentPerNode: number;
  /** IP bytes on loopback to/from the system's ports (nftables), per node; null without root. */
  idleWireBytesPerNodePerSecond: number | null;
  falseNotAliveDuringIdle: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => Promise<boolean>, timeoutMs: number, pollMs = 50): Promise<number> {
  const started = Date.now();
  while (!(await check().catch(() => false))) {
    if (Date.now() - started > timeoutMs) return Number.NaN;
    await sleep(pollMs);
  }
  return Date.now() - started;
}

/** From `started` until every member sees all n alive. */
async function convergence(members: Member[], n: number, started: number): Promise<number> {
  const allSeeAll = async (): Promise<boolean> =>
    (await Promise.all(members.map((m) => m.alive()))).every((a) => a.length === n);
  if (members.some((m) => m.allAliveSince === undefined)) return until(allSeeAll, 120_000);
  // Polled slowly; the moment comes from the members' own clocks (same host).
  if (Number.isNaN(await until(allSeeAll, 120_000, 250))) return Number.NaN;
  const since = await Promise.all(members.map((m) => m.allAliveSince!()));
  return Math.max(...since) - started;
}

async function startMeshCluster(n: number, root: string): Promise<Member[]> {
  const daemons = await startCluster(n, root, ['--role', 'none'], MESH_PORT_BASE);
  return daemons.map((daemon) => ({
    name: daemon.name,
    process: daemon.process,
    alive: async () =>
      (await daemon.api.get<MemberView[]>('/peers')).filter((m) => m.alive).map((m) => m.name),
    allAliveSince: async () =>
      Math.max(...(await daemon.api.get<MemberView[]>('/peers')).map((m) => m.aliveSince ?? Infinity)),
    // Members, not libp2p connections: two that dialled each other at once hold two for a while.
    connectedMembers: async () =>
      (await daemon.api.get<MemberView[]>('/peers')).filter((m) => m.connected && !m.self).length,
    state: async () => {
      const vector = await daemon.api.get<Record<string, unknown>>('/ledger/vector');
      return JSON.stringify(Object.entries(vector).sort(([a], [b]) => a.localeCompare(b)));
    },
  }));
}

async function startSerfCluster(n: number): Promise<Member[]> {
  const members: Member[] = [];
  for (let i = 0; i < n; i += 1) {
    const bind = `127.0.0.1:${SERF_PORT_BASE + i}`;
    const rpc = `127.0.0.1:${SERF_RPC_PORT_BASE + i}`;
    const args = [
      'agent',
      `-node=s${i}`,
      `-bind=${bind}`,
      `-rpc-addr=${rpc}`,
      '-log-level=err',
      '-profile=lan',
      ...(i === 0 ? [] : [`-retry-join=127.0.0.1:${SERF_PORT_BASE}`, '-retry-interval=1s']),
    ];
    const child = spawn('serf', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const alive = async (): Promise<string[]> => {
      const { stdout } = await execFileAsync('serf', [
        'members',
        `-rpc-addr=${rpc}`,
        '-status=alive',
        '-format=json',
      ]);
      return (JSON.parse(stdout) as { members: Array<{ name: string }> }).members.map((m) => m.name);
    };
    members.push({ name: `s${i}`, process: child, alive });
  }
  // Serf prints nothing at log level err: "ready" is when its RPC answers.
  await Promise.all(members.map((m) => until(async () => (await m.alive()).length > 0, 20_000)));
  return members;
}

async function measure(
  members: Member[],
  idleSeconds: number,
  flapSeconds: number,
  counter: string,
): Promise<SystemFigures> {
  const n = members.length;
  const convergeMs = await convergence(members, n, Date.now());

  // Idle means nothing left to do: the start-up catch-up of the ledger (every member's
  // records reaching every member) is over first, and timed on its own.
  const settleMs = await until(async () => {
    const states = await Promise.all(members.map((m) => m.state?.() ?? Promise.resolve('')));
    return states.every((state) => state === states[0]);
  }, 120_000);

  // Members alive second-hand are connected to later, spread out (src/mesh/dial-policy.ts):
  // idle starts once that is done too.
  const fullMeshMs = members.every((m) => m.connectedMembers !== undefined)
    ? settleMs +
      (await until(
        async () => (await Promise.all(members.map((m) => m.connectedMembers!()))).every((c) => c === n - 1),
        180_000,
        1_000,
      ))
    : null;

  // Idle window, untouched: polling would itself be traffic and CPU.
  await sleep(2_000);
  const before = new Map<number, ProcSample>(
    members.map((m) => [m.process.pid!, sampleProcess(m.process.pid!)]),
  );
  const wireBefore = counters?.bytes(counter) ?? 0;
  await sleep(idleSeconds * 1000);
  const wireBytes = (counters?.bytes(counter) ?? 0) - wireBefore;
  const after = members.map((m) => ({ pid: m.process.pid!, sample: sampleProcess(m.process.pid!) }));
  const cpu = after.map(({ pid, sample }) => (sample.cpuSeconds - before.get(pid)!.cpuSeconds) / idleSeconds);

  // Then watch every member's view once a second for anyone wrongly reported not alive.
  let falseNotAlive = 0;
  const watchEnd = Date.now() + flapSeconds * 1000;
  while (Date.now() < watchEnd) {
    const views = await Promise.all(members.map((m) => m.alive()));
    falseNotAlive += views.filter((a) => a.length !== n).length;
    await sleep(1_000);
  }

  const victim = members[n - 1]!;
  victim.process.kill('SIGKILL');
  const observers = members.slice(0, n - 1);
  const failureDetectMs = await until(
    async () => (await Promise.all(observers.map((m) => m.alive()))).every((a) => !a.includes(victim.name)),
    120_000,
  );

  return {
    nodes: n,
    convergeMs,
    settleMs,
    fullMeshMs,
    failureDetectMs,
    rssMiBMedian: Math.round((median(after.map(({ sample }) => sample.rssBytes)) / 2 ** 20) * 10) / 10,
    idleCpuPercentPerNode: Math.round((cpu.reduce((a, b) => a + b, 0) / n) * 1000) / 10,
    idleWireBytesPerNodePerSecond: counters === undefined ? null : Math.round(wireBytes / n / idleSeconds),
    falseNotAliveDuringIdle: falseNotAlive,
  };
}

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '10,25' },
    'idle-seconds': { type: 'string', default: '60' },
    'watch-seconds': { type: 'string', default: '60' },
  },
});
const sizes = values.nodes.split(',').map(Number);
const idleSeconds = Number(values['idle-seconds']);
const flapSeconds = Number(values['watch-seconds']);
counters?.install();
const results = [];
for (const n of sizes) {
  const root = await mkdtemp(join(tmpdir(), 'km-bench-membership-'));
  const mesh = await startMeshCluster(n, root);
  let meshFigures: SystemFigures;
  try {
    meshFigures = await measure(mesh, idleSeconds, flapSeconds, 'mesh');
  } finally {
    await stopCluster(mesh);
    await rm(root, { recursive: true, force: true });
  }
  const serf = await startSerfCluster(n);
  let serfFigures: SystemFigures;
  try {
    serfFigures = await measure(serf, idleSeconds, flapSeconds, 'serf');
  } finally {
    await stopCluster(serf);
  }
  results.push({
    nodes: n,
    kairosMesh: meshFigures,
    serf: serfFigures,
    ratios: {
      convergeVsSerf: Math.round((meshFigures.convergeMs / serfFigures.convergeMs) * 100) / 100,
      failureDetectVsSerf:
        Math.round((meshFigures.failureDetectMs / serfFigures.failureDetectMs) * 100) / 100,
      rssVsSerf: Math.round((meshFigures.rssMiBMedian / serfFigures.rssMiBMedian) * 100) / 100,
    },
  });
}
counters?.remove();
process.stdout.write(
  `${JSON.stringify({ bench: 'membership', idleSeconds, watchSeconds: flapSeconds, loadAverageAtEnd: loadAverage(), cores: (await import('node:os')).cpus().length, results }, null, 2)}\n`,
);
