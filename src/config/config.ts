import type { LevelWithSilent } from 'pino';
import type { ROLE_MODES } from './file-schema.ts';

export type RoleMode = (typeof ROLE_MODES)[number];
export type DhtMode = 'private' | 'public' | 'off';
export type VpnBackend = 'auto' | 'kernel' | 'userspace';
export type K3sService = 'auto' | 'systemd' | 'openrc' | 'exec';

export interface K3sUserSettings {
  enabled: boolean;
  args: string[];
  env: Record<string, string>;
  replaceArgs: boolean;
  replaceEnv: boolean;
}

/** One validated configuration: defaults, then the config file, then flags. */
export interface Config {
  /** The token text as given; decoded and checked by the token module. */
  token?: string;
  /** Where `token` came from, for messages (never the token itself). */
  tokenSource?: string;
  networkId?: string;
  name: string;
  dataDir: string;
  listen: string[];
  bootstrap: string[];
  mdns: boolean;
  dht: DhtMode;
  relayServer: boolean;
  logLevel: LevelWithSilent;
  presence: { heartbeatMs: number; ttlMs: number };
  role: RoleMode;
  minimumNodes: number;
  autoRoles: boolean;
  /** Total masters wanted (Kairos' `ha.master_nodes` counts additional ones). */
  masters: number;
  masterGraceMs: number;
  externalDb?: string;
  vpn: {
    enabled: boolean;
    /** Put k3s on the overlay (`--node-ip`, `--flannel-iface`). */
    useForK3s: boolean;
    cidr: string;
    iface: string;
    backend: VpnBackend;
    endpoints: string[];
    listenPort: number;
    mtu: number;
    keep: boolean;
    peerGraceMs: number;
    env: Record<string, string>;
  };
  k3s: K3sUserSettings;
  k3sAgent: K3sUserSettings;
  k3sService: K3sService;
  k3sBin: string;
  /** Prefix for every k3s system path (service files, node-token, kubeconfig); unset = /. */
  k3sRoot?: string;
  clusterReadyHook?: string;
  bootTries: number;
}

/**
 * Default overlay: a /16 inside 100.64.0.0/10 (shared address space, RFC 6598). It never
 * meets k3s' 10.42.0.0/16 pods or 10.43.0.0/16 services, nor the RFC 1918 LANs edge sites use.
 */
export const DEFAULT_VPN_CIDR = '100.90.0.0/16';
export const DEFAULT_VPN_IFACE = 'kmesh0';
export const DEFAULT_VPN_PORT = 51830;
