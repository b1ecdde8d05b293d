/**
 * Election: N daemons with minimum_nodes N start together. Measured from the moment every node
 * sees all N alive (the N-th member alive everywhere) to the moment every node holds the same
 * committed decision, both from the daemons' own timestamps (`aliveSince` of each member in
 * `/peers`, `decision.heldSince` in `/roles`; one host, one clock), so the control API is polled
 * only every POLL_MS and the polling does not load the daemons it measures. k3s is a fake that
 * records its calls and sleeps (no k3s can run here). Prints one JSON document, with where the
 * time went (ms after all alive, to within a poll): every node sees all N alive with a record
 * (`recordsMs`, the ledger catch-up; `initRecordsMs` for the init master alone), some node sees
 * the first vote (`firstVoteMs`: the init master's, once it covered its peers or its sync window
 * passed), some node sees a majority voted (`majorityMs`), all committed.
 *
 *   npx node bench/election/run.ts [--nodes 25] [--runs 3]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { MemberView } from '../../src/mesh/index.ts';
import type { RolesSnapshot } from '../../src/roles/index.ts';
import { killFakeK3s, writeFakeK3s } from '../../src/roles/testing/fake-k3s.ts';
import { startCluster, stopCluster, type BenchDaemon } from '../lib/cluster.ts';
import { loadAverage, median } from '../lib/proc.ts';

const { values } = parseArgs({
  options: { nodes: { type: 'string', default: '25' }, runs: { type: 'string', default: '3' } },
});
const n = Number(values.nodes);
const runs = Number(values.runs);

const POLL_MS = 100;

async function pollUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  for (const started = Date.now(); ;) {
    if (await check().catch(() => false)) return;
    if (Date.now() - started > timeoutMs) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

interface Phases {
  recordsMs?: number;
  initRecordsMs?: number;
  firstVoteMs?: number;
  majorityMs?: number;
}

/** Notes the first poll at which each phase of the election is reached (see the header). */
function notePhases(
  phases: Phases,
  snapshots: RolesSnapshot[],
  atMs: number,
  recordsAt: Map<string, number>,
): void {
  // A node leaves `waiting-for-nodes` once it holds the records of `minimum_nodes` alive nodes.
  for (const s of snapshots)
    if (s.phase !== 'waiting-for-nodes' && !recordsAt.has(s.self.peerId)) recordsAt.set(s.self.peerId, atMs);
  if (snapshots.every((s) => s.phase !== 'waiting-for-nodes')) phases.recordsMs ??= atMs;
  const votes = Math.max(
    ...snapshots.map((s) => s.nodes.filter((node) => (node.votedEpoch ?? 0) >= 1).length),
  );
  if (votes >= 1) phases.firstVoteMs ??= atMs;
  if (votes >= Math.floor(n / 2) + 1) phases.majorityMs ??= atMs;
}

async function oneRun(): Promise<
  { allAliveToCommittedMs: number; lastStartedToCommittedMs: number } & Phases
> {
  const root = await mkdtemp(join(tmpdir(), 'km-bench-election-'));
  const k3sRoot = join(root, 'k3s');
  const bin = await writeFakeK3s(k3sRoot);
  const config = join(root, 'config.yaml');
  await writeFile(
    config,
    `p2p: { minimum_nodes: ${n} }\nkairos_mesh:\n  k3s: { service: exec, bin: ${bin}, root: ${k3sRoot} }\n`,
  );
  let daemons: BenchDaemon[] = [];
  try {
    // All N start together: "the N-th alive" is whenever the last one joins.
    daemons = await startCluster(n, root, ['--config', config]);
    const lastStarted = Date.now();
    let allAlive = 0;
    await pollUntil(async () => {
      const views = await Promise.all(daemons.map((d) => d.api.get<MemberView[]>('/peers')));
      if (!views.every((view) => view.filter((member) => member.alive).length === n)) return false;
      allAlive = Math.max(...views.flat().map((member) => member.aliveSince ?? Infinity));
      return true;
    }, 120_000);
    const phases: Phases = {};
    const recordsAt = new Map<string, number>();
    let initMaster: string | undefined;
    let committed = 0;
    await pollUntil(async () => {
      const snapshots = await Promise.all(daemons.map((d) => d.api.get<RolesSnapshot>('/roles')));
      notePhases(phases, snapshots, Date.now() - allAlive, recordsAt);
      const hash = snapshots[0]?.decision?.hash;
      initMaster = snapshots[0]?.decision?.initMaster.peerId;
      if (hash === undefined || !snapshots.every((s) => s.decision?.hash === hash)) return false;
      committed = Math.max(...snapshots.map((s) => s.decision!.heldSince));
      return true;
    }, 120_000);
    phases.initRecordsMs = initMaster === undefined ? undefined : recordsAt.get(initMaster);
    return {
      ...phases,
      allAliveToCommittedMs: Math.max(0, committed - allAlive),
      lastStartedToCommittedMs: committed - lastStarted,
    };
  } finally {
    await stopCluster(daemons);
    await killFakeK3s(k3sRoot);
    await rm(root, { recursive: true, force: true });
  }
}

const results = [];
for (let run = 0; run < runs; run += 1) results.push(await oneRun());
const round = (value: number): number => Math.round(value);
process.stdout.write(
  `${JSON.stringify(
    {
      bench: 'election',
      nodes: n,
      runs,
      allAliveToCommittedMsMedian: round(median(results.map((r) => r.allAliveToCommittedMs))),
      lastStartedToCommittedMsMedian: round(median(results.map((r) => r.lastStartedToCommittedMs))),
      samples: results.map((r) => ({
        recordsMs: round(r.recordsMs ?? NaN),
        initRecordsMs: round(r.initRecordsMs ?? NaN),
        firstVoteMs: round(r.firstVoteMs ?? NaN),
        majorityMs: round(r.majorityMs ?? NaN),
        allAliveToCommittedMs: round(r.allAliveToCommittedMs),
        lastStartedToCommittedMs: round(r.lastStartedToCommittedMs),
      })),
      cores: cpus().length,
      loadAverageAtEnd: loadAverage(),
    },
    null,
    2,
  )}\n`,
);
