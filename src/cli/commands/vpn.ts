import type { Command } from 'commander';
import type { VpnStatus } from '../../vpn/index.ts';
import { ago, formatTable, printJson, printLine } from '../output.ts';
import { clientFor, withDataDir, withJson, type DataDirOptions, type JsonOptions } from '../common.ts';

type Options = DataDirOptions & JsonOptions;

export function registerVpn(program: Command): void {
  const vpn = program.command('vpn').description('the WireGuard overlay');

  withJson(
    withDataDir(
      vpn
        .command('status')
        .description(
          'interface, own overlay address and key, and per peer: address, endpoint, path, handshake, bytes',
        ),
    ),
  ).action(async (options: Options) => {
    const status = await clientFor(options).get<VpnStatus>('/vpn/status');
    if (options.json === true) return printJson(status);
    printLine(
      formatTable(
        ['FIELD', 'VALUE'],
        [
          ['interface', `${status.iface} (${status.backend ?? '-'}), listen port ${status.listenPort}`],
          ['overlay', `${status.overlayIp ?? '-'} in ${status.cidr}`],
          ['public key', status.publicKey ?? '-'],
          ['endpoints', status.endpoints.join(', ') || '-'],
        ],
      ),
    );
    printLine('');
    printLine(
      formatTable(
        ['PEER', 'OVERLAY IP', 'PATH', 'ENDPOINT', 'HANDSHAKE', 'RX', 'TX'],
        status.peers.map((peer) => [
          peer.name ?? peer.peerId.slice(-12),
          peer.overlayIp,
          peer.established ? peer.path : `${peer.path} (connecting)`,
          peer.endpoint ?? '-',
          ago(peer.lastHandshake ?? undefined),
          bytes(peer.rxBytes),
          bytes(peer.txBytes),
        ]),
      ),
    );
  });
}

function bytes(count: number): string {
  if (count < 1024) return `${count} B`;
  if (count < 1024 ** 2) return `${(count / 1024).toFixed(1)} KiB`;
  if (count < 1024 ** 3) return `${(count / 1024 ** 2).toFixed(1)} MiB`;
  return `${(count / 1024 ** 3).toFixed(2)} GiB`;
}
