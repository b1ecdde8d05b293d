import { fnv1a32 } from '../../src/roles/index.ts';
import { EventQueue } from './heap.ts';
import { hashRandom, type Scenario } from './scenario.ts';

/**
 * A model of Kairos' provider-kairos role assignment, on the same network: every node ticks each
 * 10 s; the node with the highest FNV-32a hash of its id among the nodes it knows of (liveness
 * 15 minutes, so crashes and partitions go unnoticed) is the leader once it knows of
 * minimum_nodes nodes; a leader writes one assignment per tick to the ledger: a master if it
 * sees none, else one worker. No quorum, no terms.
 */
export interface KairosResult {
  /** From the minimumNodes-th boot to the first master assignment (ms). */
  firstMasterLatencyMs: number | undefined;
  /** Distinct nodes ever assigned master (>1 = two clusters). */
  masters: number;
  /** Distinct nodes that acted as leader. */
  leaders: number;
  assigned: number;
  up: number;
}

const TICK_MS = 10_000;
const LIVENESS_MS = 15 * 60_000;

export function runKairos(scenario: Scenario): KairosResult {
  const params = scenario.params;
  const n = params.nodes;
  const rank = Array.from({ length: n }, (_, index) => fnv1a32(`node-${index}`));
  const byRank = Array.from({ length: n }, (_, index) => index).sort((a, b) => rank[b]! - rank[a]! || a - b);
  const byBoot = Array.from({ length: n }, (_, index) => index).sort(
    (a, b) => scenario.boot[a]! - scenario.boot[b]!,
  );
  const assignments: Array<{ target: number; role: 'master' | 'worker'; at: number; by: number }> = [];
  const masters = new Set<number>();
  const leaders = new Set<number>();
  let firstMasterAt: number | undefined;
  const queue = new EventQueue<number>();
  for (let i = 0; i < n; i++)
    queue.push(scenario.boot[i]! + hashRandom(scenario.seed, i, 0, 99) * TICK_MS, i);

  // Kairos learns of a node from its heartbeat entries in the ledger; 15 minutes of liveness
  // outlast any simulated crash or partition, so once known a node stays "alive".
  const knows = (self: number, other: number, time: number): boolean =>
    other === self ||
    (scenario.boot[other]! <= time &&
      scenario.arrival(other, self, scenario.boot[other]!, -20) <= time &&
      time - scenario.boot[other]! < LIVENESS_MS + params.horizonMs);

  const tick = (i: number, time: number): void => {
    let count = 0;
    for (const j of byBoot) {
      if (scenario.boot[j]! > time) break;
      if (knows(i, j, time) && ++count >= params.minimumNodes) break;
    }
    if (count < params.minimumNodes) return;
    const leader = byRank.find((j) => knows(i, j, time));
    if (leader !== i) return;
    leaders.add(i);
    const roles = new Map<number, 'master' | 'worker'>();
    assignments.forEach((assignment, id) => {
      if (assignment.at <= time && scenario.arrival(assignment.by, i, assignment.at, 1000 + id) <= time)
        roles.set(assignment.target, assignment.role);
    });
    const unassigned: number[] = [];
    for (const j of byBoot) {
      if (scenario.boot[j]! > time) break;
      if (!roles.has(j) && knows(i, j, time)) unassigned.push(j);
    }
    if (unassigned.length === 0) return;
    const hasMaster = [...roles.values()].includes('master');
    const target =
      unassigned[Math.floor(hashRandom(scenario.seed, i, Math.floor(time), 7) * unassigned.length)]!;
    const role = hasMaster ? 'worker' : 'master';
    assignments.push({ target, role, at: time, by: i });
    if (role === 'master') {
      masters.add(target);
      firstMasterAt ??= time;
    }
  };

  for (;;) {
    const event = queue.pop();
    if (event === undefined || event.time > params.horizonMs) break;
    const i = event.item;
    if (scenario.up(i, event.time)) tick(i, event.time);
    if (event.time < scenario.crash[i]!) queue.push(event.time + TICK_MS, i);
  }

  let up = 0;
  let assigned = 0;
  const end = params.horizonMs;
  const assignedNodes = new Set<number>();
  assignments.forEach((assignment, id) => {
    if (scenario.arrival(assignment.by, assignment.target, assignment.at, 1000 + id) <= end)
      assignedNodes.add(assignment.target);
  });
  for (let i = 0; i < n; i++) {
    if (!scenario.up(i, end)) continue;
    up++;
    if (assignedNodes.has(i)) assigned++;
  }
  return {
    firstMasterLatencyMs: firstMasterAt === undefined ? undefined : firstMasterAt - scenario.quorumBootAt,
    masters: masters.size,
    leaders: leaders.size,
    assigned,
    up,
  };
}
