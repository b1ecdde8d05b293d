import type { Command } from 'commander';
import type { MemberView, MeshStatus } from '../../mesh/index.ts';
import { ago, formatTable, printJson, printLine } from '../output.ts';
import { clientFor, withDataDir, withJson, type DataDirOptions, type JsonOptions } from '../common.ts';

type Options = DataDirOptions & JsonOptions;

export function registerStatus(program: Command): void {
  withJson(
    withDataDir(
      program
        .command('status')
        .description('this node: peer id, name, addresses, member and connection counts'),
    ),
  ).action(async (options: Options) => {
    const status = await clientFor(options).get<MeshStatus>('/status');
    if (options.json === true) return printJson(status);
    printLine(
      formatTable(
        ['FIELD', 'VALUE'],
        [
          ['peerId', status.peerId],
          ['name', status.name],
          ['network', `${status.networkId} (${status.fingerprint})`],
          ['members', `${status.alive} alive of ${status.members}`],
          ['connections', String(status.connections)],
          ['admission', `${status.admission.admitted} admitted, ${status.admission.rejected} refused`],
          ...status.addresses.map((address, index) => [index === 0 ? 'addresses' : '', address]),
        ],
      ),
    );
  });

  withJson(
    withDataDir(program.command('peers').description('every member this node knows, itself included')),
  ).action(async (options: Options) => {
    const peers = await clientFor(options).get<MemberView[]>('/peers');
    if (options.json === true) return printJson(peers);
    printLine(
      formatTable(
        ['NAME', 'PEER ID', 'ALIVE', 'CONNECTED', 'LAST SEEN', 'ADDRESS'],
        peers.map((peer) => [
          peer.name + (peer.self ? ' (self)' : ''),
          peer.peerId,
          peer.alive ? 'yes' : 'no',
          peer.self ? '-' : peer.connected ? 'yes' : 'no',
          peer.self ? 'now' : ago(peer.lastSeen),
          peer.addresses[0] ?? '-',
        ]),
      ),
    );
  });
}
