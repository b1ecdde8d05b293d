/**
 * Ledger propagation: N daemons on loopback; puts from random nodes; time from the put call to
 * the change being visible (a `ledger watch` event) on every node. Prints one JSON document.
 *
 *   npx node bench/ledger-propagation/run.ts [--nodes 25] [--puts 200] [--interval-ms 100]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { StateChange } from '../../src/ledger/index.ts';
import { startCluster, stopCluster, waitAllAlive } from '../lib/cluster.ts';
import { loadAverage, percentile } from '../lib/proc.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '25' },
    puts: { type: 'string', default: '200' },
    'interval-ms': { type: 'string', default: '100' },
  },
});
const n = Number(values.nodes);
const puts = Number(values.puts);
const intervalMs = Number(values['interval-ms']);

const root = await mkdtemp(join(tmpdir(), 'km-bench-prop-'));
const daemons = await startCluster(n, root, ['--role', 'none']);
const abort = new AbortController();
try {
  await waitAllAlive(daemons);
  // Let gossipsub meshes form before measuring (pull would repair anyway, but slower).
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  const seen = new Map<string, number[]>();
  const watchers = daemons.map(async (daemon) => {
    for await (const change of daemon.api.stream<StateChange>('/ledger/watch?bucket=prop', abort.signal)) {
      const arrivals = seen.get(change.key) ?? [];
      arrivals.push(performance.now());
      seen.set(change.key, arrivals);
    }
  });
  await new Promise((resolve) => setTimeout(resolve, 500));
  const latencies: number[] = [];
  const firstHop: number[] = [];
  const acknowledged: number[] = [];
  let lost = 0;
  for (let i = 0; i < puts; i += 1) {
    const writer = daemons[Math.floor(Math.random() * n)]!;
    const key = `k${i}`;
    const started = performance.now();
    await writer.api.post('/ledger/put', { bucket: 'prop', key, value: { i } });
    acknowledged.push(performance.now() - started);
    const deadline = started + 10_000;
    while ((seen.get(key)?.length ?? 0) < n && performance.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 2));
    const arrivals = seen.get(key) ?? [];
    if (arrivals.length < n) lost += 1;
    else {
      latencies.push(Math.max(...arrivals) - started);
      firstHop.push(Math.min(...arrivals) - started);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  abort.abort();
  await Promise.allSettled(watchers);
  const round = (value: number): number => Math.round(value * 10) / 10;
  process.stdout.write(
    `${JSON.stringify(
      {
        bench: 'ledger-propagation',
        nodes: n,
        puts,
        visibleOnAllMs: {
          p50: round(percentile(latencies, 50)),
          p90: round(percentile(latencies, 90)),
          p99: round(percentile(latencies, 99)),
          max: round(Math.max(...latencies)),
        },
        writerOwnWatchMs: { p50: round(percentile(firstHop, 50)) },
        // Put call -> answer: signed and fsynced (the writer starts its gossip before answering).
        putAcknowledgedMs: {
          p50: round(percentile(acknowledged, 50)),
          p99: round(percentile(acknowledged, 99)),
        },
        notVisibleEverywhereWithin10s: lost,
        cores: cpus().length,
        loadAverageAtEnd: loadAverage(),
      },
      null,
      2,
    )}\n`,
  );
} finally {
  abort.abort();
  await stopCluster(daemons);
  await rm(root, { recursive: true, force: true });
}
