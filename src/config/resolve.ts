import type { ConfigFile } from './file-schema.ts';
import {
  DEFAULT_VPN_CIDR,
  DEFAULT_VPN_IFACE,
  DEFAULT_VPN_PORT,
  type Config,
  type DhtMode,
  type K3sService,
  type K3sUserSettings,
  type RoleMode,
  type VpnBackend,
} from './config.ts';
import { durationMs } from './duration.ts';
import type { LevelWithSilent } from 'pino';

/** Settings given on the command line; each one overrides the config file. */
export interface ConfigFlags {
  token?: string;
  dataDir?: string;
  listen?: string[];
  bootstrap?: string[];
  name?: string;
  mdns?: boolean;
  dht?: DhtMode;
  relayServer?: boolean;
  vpn?: boolean;
  role?: RoleMode;
  minimumNodes?: number;
  logLevel?: LevelWithSilent;
  vpnCidr?: string;
  vpnIface?: string;
  vpnBackend?: VpnBackend;
  vpnEndpoint?: string[];
  vpnPort?: number;
  vpnKeep?: boolean;
  k3sBin?: string;
  k3sExec?: boolean;
}

export interface ResolveContext {
  hostname: string;
  defaultDataDir: string;
  env: Record<string, string | undefined>;
}

const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/0'];

function k3sSettings(block: ConfigFile['k3s']): K3sUserSettings {
  return {
    enabled: block?.enabled ?? true,
    args: block?.args ?? [],
    env: block?.env ?? {},
    replaceArgs: block?.replace_args ?? false,
    replaceEnv: block?.replace_env ?? false,
  };
}

/** Kairos writes "" for auto; `none` joins the mesh without running k3s. */
function roleOf(value: string | undefined): RoleMode | undefined {
  if (value === undefined) return undefined;
  return value === '' ? 'auto' : (value as RoleMode);
}

/** Pure: merges defaults, the file and flags into one Config. */
export function resolveConfig(file: ConfigFile, flags: ConfigFlags, context: ResolveContext): Config {
  const p2p = file.p2p ?? {};
  const legacy = file.kairos ?? file.c3os ?? {};
  const mesh = file.kairos_mesh ?? {};
  const ha = p2p.auto?.ha;
  const envToken = context.env['KAIROS_MESH_TOKEN'];
  const fileToken = p2p.network_token ?? legacy.network_token;
  const token =
    flags.token ?? (envToken !== undefined && envToken !== '' ? envToken : undefined) ?? fileToken;
  const tokenSource =
    flags.token !== undefined
      ? 'flag'
      : envToken !== undefined && envToken !== ''
        ? 'KAIROS_MESH_TOKEN'
        : fileToken !== undefined
          ? 'config'
          : undefined;
  // Kairos: `ha.master_nodes` is the number of ADDITIONAL masters; our `roles.masters` is the total.
  const haMasters = ha?.enable === true ? (ha.master_nodes ?? 2) + 1 : 1;
  const k3sService: K3sService = flags.k3sExec === true ? 'exec' : (mesh.k3s?.service ?? 'auto');
  const networkId = p2p.network_id ?? legacy.network_id;

  return {
    ...(token === undefined ? {} : { token }),
    ...(tokenSource === undefined ? {} : { tokenSource }),
    ...(networkId === undefined ? {} : { networkId }),
    name: flags.name ?? mesh.name ?? context.hostname,
    dataDir: flags.dataDir ?? context.env['KAIROS_MESH_DATA_DIR'] ?? mesh.data_dir ?? context.defaultDataDir,
    listen: flags.listen ?? mesh.listen ?? DEFAULT_LISTEN,
    bootstrap: flags.bootstrap ?? mesh.bootstrap ?? [],
    mdns: flags.mdns ?? mesh.mdns ?? true,
    dht: flags.dht ?? (p2p.disable_dht === true ? 'off' : (mesh.dht ?? 'private')),
    relayServer: flags.relayServer ?? mesh.relay_server ?? true,
    logLevel: flags.logLevel ?? mesh.log_level ?? 'info',
    presence: {
      heartbeatMs: durationMs(mesh.presence?.heartbeat_interval ?? '5s'),
      ttlMs: durationMs(mesh.presence?.ttl ?? '15s'),
    },
    role: flags.role ?? roleOf(p2p.role ?? legacy.role) ?? 'auto',
    minimumNodes: flags.minimumNodes ?? p2p.minimum_nodes ?? 2,
    autoRoles: p2p.auto?.enable ?? true,
    masters: mesh.roles?.masters ?? haMasters,
    masterGraceMs: durationMs(mesh.roles?.master_grace ?? '2m'),
    ...(ha?.external_db === undefined || ha.external_db === '' ? {} : { externalDb: ha.external_db }),
    vpn: {
      enabled: flags.vpn ?? p2p.vpn?.create ?? true,
      useForK3s: p2p.vpn?.use ?? true,
      cidr: flags.vpnCidr ?? mesh.vpn?.cidr ?? DEFAULT_VPN_CIDR,
      iface: flags.vpnIface ?? mesh.vpn?.iface ?? DEFAULT_VPN_IFACE,
      backend: flags.vpnBackend ?? mesh.vpn?.backend ?? 'auto',
      endpoints: flags.vpnEndpoint ?? mesh.vpn?.endpoints ?? [],
      listenPort: flags.vpnPort ?? mesh.vpn?.listen_port ?? DEFAULT_VPN_PORT,
      mtu: mesh.vpn?.mtu ?? 1380,
      keep: flags.vpnKeep ?? mesh.vpn?.keep ?? false,
      peerGraceMs: durationMs(mesh.vpn?.peer_grace ?? '10m'),
      env: p2p.vpn?.env ?? {},
    },
    k3s: k3sSettings(file.k3s),
    k3sAgent: k3sSettings(file['k3s-agent']),
    k3sService,
    k3sBin: flags.k3sBin ?? mesh.k3s?.bin ?? 'k3s',
    ...(mesh.k3s?.root === undefined ? {} : { k3sRoot: mesh.k3s.root }),
    ...(mesh.hooks?.cluster_ready === undefined ? {} : { clusterReadyHook: mesh.hooks.cluster_ready }),
    bootTries: mesh.boot?.tries ?? 3,
  };
}
