import type { Command } from 'commander';
import type { RolesSnapshot } from '../../roles/index.ts';
import { writeFileAtomic } from '../../shared/secure-file.ts';
import { formatTable, printJson, printLine } from '../output.ts';
import { clientFor, withDataDir, withJson, type DataDirOptions, type JsonOptions } from '../common.ts';

type Options = DataDirOptions & JsonOptions;

export function registerRoles(program: Command): void {
  withJson(
    withDataDir(
      program
        .command('roles')
        .description(
          'the committed k3s roles: epoch, init master, masters, workers, and per node its role and state',
        ),
    ),
  ).action(async (options: Options) => {
    const snapshot = await clientFor(options).get<RolesSnapshot>('/roles');
    if (options.json === true) return printJson(snapshot);
    printRoles(snapshot);
  });

  const role = program.command('role').description('operator overrides of k3s roles');
  withDataDir(
    role
      .command('set <node> <role>')
      .description(
        'set NODE (name or peer id) to ROLE (master, worker, none, or auto to clear); commits as a new epoch',
      ),
  ).action(async (node: string, wanted: string, options: DataDirOptions) => {
    const result = await clientFor(options).post<{ peerId: string; name: string; role: string }>(
      '/roles/set',
      {
        node,
        role: wanted,
      },
    );
    printLine(
      `${result.name} (${result.peerId}): ${result.role === 'auto' ? 'override cleared' : `set to ${result.role}`}; ` +
        'it applies once the next epoch commits (see `kairos-mesh roles`)',
    );
  });

  withDataDir(
    program
      .command('kubeconfig')
      .description("the cluster's admin kubeconfig, fetched on demand from a master over the mesh")
      .option('-o, --output <file>', 'write it to FILE (mode 0600) instead of stdout'),
  ).action(async (options: DataDirOptions & { output?: string }) => {
    const result = await clientFor(options).get<{ kubeconfig: string; from: { name: string } }>(
      '/roles/kubeconfig',
    );
    if (options.output === undefined) {
      process.stdout.write(result.kubeconfig.endsWith('\n') ? result.kubeconfig : `${result.kubeconfig}\n`);
      return;
    }
    await writeFileAtomic(options.output, result.kubeconfig, 0o600);
    printLine(`wrote the kubeconfig from ${result.from.name} to ${options.output}`);
  });
}

function printRoles(snapshot: RolesSnapshot): void {
  const decision = snapshot.decision;
  if (decision === undefined) printLine(`no decision yet: ${snapshot.message}`);
  else {
    const init = `${decision.initMaster.name}${decision.initMasterRetired ? ' (retired)' : ''}`;
    printLine(
      `epoch ${decision.epoch} (${decision.hash.slice(0, 12)}): init master ${init}, ` +
        `${decision.masters.length} master(s) of ${decision.masterTarget} wanted, ${decision.workers.length} worker(s)`,
    );
    printLine(`this node: ${snapshot.message}`);
  }
  const k3s = snapshot.k3s;
  if (k3s !== undefined)
    printLine(
      `k3s: ${k3s.state}${k3s.backend === undefined ? '' : ` (${k3s.backend})`}` +
        (k3s.waitingFor === undefined ? '' : `, waiting for ${k3s.waitingFor}`) +
        (k3s.error === undefined ? '' : `: ${k3s.error}`),
    );
  printLine('');
  printLine(
    formatTable(
      ['NODE', 'PEER', 'ROLE', 'MODE', 'STATE', 'VOTED'],
      snapshot.nodes.map((node) => [
        `${node.name}${node.peerId === snapshot.self.peerId ? ' *' : ''}`,
        node.peerId.slice(-12),
        node.role,
        `${node.mode ?? '-'}${node.override === undefined ? '' : ` (set: ${node.override})`}`,
        node.state,
        node.votedEpoch === undefined || node.votedEpoch === 0 ? '-' : `epoch ${node.votedEpoch}`,
      ]),
    ),
  );
}
