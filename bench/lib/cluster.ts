import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ApiClient } from '../../src/cli/api-client.ts';
import { spawnDaemon, stopChild } from '../../src/cli/spawn-daemon.ts';
import type { MeshStatus } from '../../src/mesh/index.ts';
import { encodeToken, newToken } from '../../src/token/index.ts';

export interface BenchDaemon {
  name: string;
  dataDir: string;
  process: ChildProcess;
  api: ApiClient;
}

/** Starts n `kairos-mesh up` daemons on loopback, all bootstrapped to the first. */
export async function startCluster(
  n: number,
  root: string,
  extraArgs: string[] = [],
  portBase = 0,
): Promise<BenchDaemon[]> {
  const token = encodeToken(newToken());
  const start = (i: number, extra: string[]): { daemon: BenchDaemon; address: Promise<string> } => {
    const dataDir = join(root, `d${i}`);
    const listen = `/ip4/127.0.0.1/tcp/${portBase === 0 ? 0 : portBase + i}`;
    const args = ['--data-dir', dataDir, '--name', `d${i}`, '--listen', listen, '--no-mdns', '--no-vpn'];
    const { child, address } = spawnDaemon(
      `d${i}`,
      [...args, '--dht', 'off', '--log-level', 'error', ...extraArgs, ...extra],
      token,
    );
    return { daemon: { name: `d${i}`, dataDir, process: child, api: new ApiClient(dataDir) }, address };
  };
  const first = start(0, []);
  const bootstrap = await first.address;
  const rest = Array.from({ length: n - 1 }, (_, i) => start(i + 1, ['--bootstrap', bootstrap]));
  await Promise.all(rest.map((r) => r.address));
  return [first.daemon, ...rest.map((r) => r.daemon)];
}

export async function waitAllAlive(daemons: BenchDaemon[], timeoutMs = 120_000): Promise<number> {
  const started = Date.now();
  for (;;) {
    const statuses = await Promise.all(
      daemons.map((d) => d.api.get<MeshStatus>('/status').catch(() => undefined)),
    );
    if (statuses.every((s) => s?.alive === daemons.length)) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error('cluster did not converge');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** SIGTERM every process and wait for all to exit. */
export async function stopCluster(daemons: Array<{ process: ChildProcess }>): Promise<void> {
  await Promise.all(daemons.map((d) => stopChild(d.process)));
}
