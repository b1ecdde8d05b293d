import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { encodeToken, newToken } from '../../token/index.ts';
import { sleep } from '../../shared/sleep.ts';
import type { MemberView } from '../../mesh/index.ts';
import { ApiClient } from '../api-client.ts';
import { formatTable } from '../output.ts';
import { stopSignal } from '../../shared/stop-signal.ts';
import { parseIntegerOption } from '../common.ts';
import { LOOPBACK_DAEMON_ARGS, spawnDaemon, stopChild } from '../spawn-daemon.ts';

interface DemoNode {
  name: string;
  dataDir: string;
  child: ChildProcess;
  address: Promise<string>;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'start N real daemons on 127.0.0.1 with a fresh token and watch the mesh form (Ctrl-C stops them all)',
    )
    .option('--nodes <n>', 'how many daemons', parseIntegerOption('--nodes', 2, 50), 5)
    .action(async (options: { nodes: number }) => {
      const root = await mkdtemp(join(tmpdir(), 'kairos-mesh-demo-'));
      const token = encodeToken(newToken({ networkId: 'demo' }));
      const nodes: DemoNode[] = [];
      const stop = new AbortController();
      void stopSignal().then(() => stop.abort());
      try {
        nodes.push(startNode('node-1', root, token, []));
        const bootstrap = await nodes[0]!.address;
        for (let i = 2; i <= options.nodes; i += 1)
          nodes.push(startNode(`node-${i}`, root, token, ['--bootstrap', bootstrap]));
        await Promise.all(nodes.map((node) => node.address));
        await watch(nodes, stop.signal);
      } finally {
        process.stdout.write('\nstopping the demo daemons...\n');
        await Promise.all(nodes.map((node) => stopChild(node.child)));
        await rm(root, { recursive: true, force: true });
      }
    });
}

function startNode(name: string, root: string, token: string, extra: string[]): DemoNode {
  const dataDir = join(root, name);
  const { child, address } = spawnDaemon(
    name,
    [
      '--data-dir',
      dataDir,
      '--name',
      name,
      ...LOOPBACK_DAEMON_ARGS,
      '--role',
      'none',
      '--log-level',
      'error',
      ...extra,
    ],
    token,
  );
  return { name, dataDir, child, address };
}

async function watch(nodes: DemoNode[], signal: AbortSignal): Promise<void> {
  const started = Date.now();
  let converged: number | undefined;
  let previous = '';
  for (let poll = 0; !signal.aborted; poll += 1) {
    const views = await Promise.all(
      nodes.map((node) => new ApiClient(node.dataDir).get<MemberView[]>('/peers').catch(() => [])),
    );
    const rows = nodes.map((node, index) => {
      const view = views[index] ?? [];
      const alive = view.filter((member) => member.alive).length;
      return [node.name, `${alive}/${nodes.length}`, '#'.repeat(alive).padEnd(nodes.length, '.')];
    });
    const allSeeAll = views.every((view) => view.filter((member) => member.alive).length === nodes.length);
    // Seen on the first look: alive by the time the last daemon was up (presence datagrams).
    if (allSeeAll && converged === undefined) converged = poll === 0 ? 0 : Date.now() - started;
    const summary =
      converged === undefined
        ? 'forming...'
        : `every node sees all ${nodes.length} alive ${converged === 0 ? 'as soon as all were up' : `after ${(converged / 1000).toFixed(1)} s`}`;
    const screen = `${formatTable(['NODE', 'SEES ALIVE', ''], rows)}\n\n${summary}\nCtrl-C stops every daemon.`;
    if (process.stdout.isTTY) process.stdout.write(`\x1b[H\x1b[2J${screen}\n`);
    else if (screen !== previous) process.stdout.write(`${screen}\n\n`);
    previous = screen;
    await sleep(500, signal);
  }
}
