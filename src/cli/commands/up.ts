import { Option, type Command } from 'commander';
import { loadConfig, type LoadOptions } from '../../config/index.ts';
import { createLogger, LOG_LEVELS } from '../../shared/logger.ts';
import { ROLE_MODES } from '../../config/index.ts';
import { printLine } from '../output.ts';
import { loadDaemon } from '../lazy.ts';
import { collect, parseIntegerOption } from '../common.ts';
import { stopSignal } from '../../shared/stop-signal.ts';

/** The shell's convention for a process ended by a signal: 128 + its number. */
const SIGNAL_EXIT_CODES: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };

interface UpOptions extends Omit<LoadOptions, 'mdns' | 'vpn' | 'configFile'> {
  config?: string;
  mdns: boolean;
  vpn: boolean;
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('run this node in the foreground until SIGINT/SIGTERM')
    .option(
      '--token <token>',
      'network token (or --token-file, KAIROS_MESH_TOKEN, the config, or the one in the data dir)',
    )
    .option('--token-file <file>', 'read the network token from a file')
    .option('--config <file>', '#cloud-config YAML with a p2p: and/or kairos_mesh: block')
    .option(
      '--data-dir <dir>',
      'state directory (default: $KAIROS_MESH_DATA_DIR, else /var/lib/kairos-mesh or ~/.local/share/kairos-mesh)',
    )
    .option('--listen <multiaddr>', 'listen address, repeatable (default /ip4/0.0.0.0/tcp/0)', collect)
    .option('--bootstrap <multiaddr>', 'a member to join through, repeatable', collect)
    .option('--name <name>', 'node name (default: hostname)')
    .option('--no-mdns', 'do not discover peers on the LAN with mDNS')
    .addOption(
      new Option('--dht <mode>', 'DHT rendezvous: private, public or off').choices([
        'private',
        'public',
        'off',
      ]),
    )
    .option('--no-vpn', 'coordination only: no WireGuard overlay')
    .addOption(new Option('--role <role>', 'k3s role').choices(ROLE_MODES))
    .option(
      '--minimum-nodes <n>',
      'members to wait for before roles are decided',
      parseIntegerOption('--minimum-nodes', 1, 100_000),
    )
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS))
    .option('--vpn-cidr <cidr>', 'overlay network (default 100.90.0.0/16)')
    .option('--vpn-iface <name>', 'overlay interface name (default kmesh0)')
    .addOption(
      new Option('--vpn-backend <backend>', 'WireGuard implementation').choices([
        'auto',
        'kernel',
        'userspace',
      ]),
    )
    .option('--vpn-endpoint <host:port>', 'a public address/port forward of this node, repeatable', collect)
    .option(
      '--vpn-port <port>',
      'WireGuard listen port (default 51830)',
      parseIntegerOption('--vpn-port', 1, 65535),
    )
    .option('--vpn-keep', 'leave the overlay interface up when stopping (k3s continuity)')
    .option('--k3s-bin <path>', 'k3s executable (default: k3s on PATH)')
    .option('--k3s-exec', 'supervise k3s as a child process instead of a system service')
    .action(async (options: UpOptions) => {
      const { config: configFile, mdns, vpn, ...rest } = options;
      const { config, warnings } = await loadConfig({
        ...rest,
        ...(configFile === undefined ? {} : { configFile }),
        // commander's --no-x flags default to true: only an explicit --no-x overrides the file.
        ...(mdns ? {} : { mdns: false }),
        ...(vpn ? {} : { vpn: false }),
      });
      const log = createLogger(config.logLevel);
      for (const warning of warnings) log.warn(warning);
      const { Daemon } = await loadDaemon();
      const daemon = new Daemon(config, log);
      // Listening before the start, so a signal during it also ends in a clean stop.
      const stopped = stopSignal((signal) => {
        log.warn(`second ${signal}: exiting without finishing the clean stop`);
        process.exit(SIGNAL_EXIT_CODES[signal] ?? 1);
      });
      const { mesh, token } = await daemon.start();
      const status = mesh.status();
      // One write, so a reader that sees the first line sees the addresses too.
      const lines = [
        `kairos-mesh: node ${status.name} (${status.peerId}) is up on network ${status.networkId}`,
        ...status.addresses.map((address) => `  ${address}`),
      ];
      if (token.created) {
        lines.push(
          `Created a new network token in ${token.path} (mode 0600).`,
          'To join another machine, copy that file to it and run:',
          `  kairos-mesh up --token-file <copied file> --bootstrap ${status.addresses[0] ?? '<this node address>'}`,
        );
      }
      printLine(lines.join('\n'));
      await stopped;
      log.info('stopping');
      await daemon.stop();
      process.exit(0);
    });
}
