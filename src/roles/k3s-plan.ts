import type { K3sUserSettings } from '../config/config.ts';

/** Pure: how a committed role becomes a k3s command line, service files and a kubeconfig. */

export type K3sRole = 'init-master' | 'master' | 'worker';

export interface K3sSpec {
  role: K3sRole;
  /** `https://<ip>:6443` of the init master or a surviving master (joining masters, workers). */
  serverUrl?: string | undefined;
  /** The cluster join token (joining masters, workers). */
  token?: string | undefined;
  /** Overlay address and interface, when k3s goes on the overlay and it is up. */
  nodeIp?: string | undefined;
  flannelIface?: string | undefined;
  externalDb?: string | undefined;
  /** `k3s:` for servers, `k3s-agent:` for workers. */
  user: K3sUserSettings;
}

export interface K3sCommand {
  service: 'k3s' | 'k3s-agent';
  subcommand: 'server' | 'agent';
  args: string[];
  env: Record<string, string>;
}

export const K3S_PORT = 6443;

export function serverUrl(ip: string): string {
  return `https://${ip.includes(':') ? `[${ip}]` : ip}:${K3S_PORT}`;
}

/**
 * Init master: `server --cluster-init`, or `--datastore-endpoint` with an external datastore;
 * other masters join with `--server` (or the same datastore) and K3S_TOKEN; workers run `agent`
 * with K3S_URL and K3S_TOKEN. Every role gets `--node-ip`/`--flannel-iface` on the overlay.
 * User args and env are appended (user env wins), or replace ours with `replace_args`/`replace_env`.
 */
export function planK3s(spec: K3sSpec): K3sCommand {
  const args: string[] = [];
  const env: Record<string, string> = {};
  const server = spec.role !== 'worker';
  if (spec.role === 'init-master') {
    if (spec.externalDb !== undefined) args.push('--datastore-endpoint', spec.externalDb);
    else args.push('--cluster-init');
  } else if (spec.role === 'master') {
    if (spec.externalDb !== undefined) args.push('--datastore-endpoint', spec.externalDb);
    else if (spec.serverUrl !== undefined) args.push('--server', spec.serverUrl);
    if (spec.token !== undefined) env['K3S_TOKEN'] = spec.token;
  } else {
    if (spec.serverUrl !== undefined) env['K3S_URL'] = spec.serverUrl;
    if (spec.token !== undefined) env['K3S_TOKEN'] = spec.token;
  }
  if (spec.nodeIp !== undefined) args.push('--node-ip', spec.nodeIp);
  if (spec.flannelIface !== undefined) args.push('--flannel-iface', spec.flannelIface);
  return {
    service: server ? 'k3s' : 'k3s-agent',
    subcommand: server ? 'server' : 'agent',
    args: spec.user.replaceArgs ? [...spec.user.args] : [...args, ...spec.user.args],
    env: spec.user.replaceEnv ? { ...spec.user.env } : { ...env, ...spec.user.env },
  };
}

/** What a joiner still lacks before its command can be planned, or undefined when nothing. */
export function missingForJoin(spec: Omit<K3sSpec, 'user'>): string | undefined {
  if (spec.role === 'init-master') return undefined;
  if (spec.token === undefined) return 'the join token (published by a master once its k3s is up)';
  if (spec.externalDb === undefined && spec.serverUrl === undefined) return 'the address of a master';
  if (spec.role === 'worker' && spec.serverUrl === undefined) return 'the address of a master';
  return undefined;
}

/** One systemd ExecStart word: quoted when needed; `%` and `$` escaped for systemd. */
function systemdWord(word: string): string {
  const escaped = word.replaceAll('%', '%%').replaceAll('$', '$$$$');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped)) return escaped;
  return `"${escaped.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

function shellWord(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

export function envFilePath(command: K3sCommand): string {
  return `/etc/sysconfig/${command.service}`;
}

/** The systemd drop-in: ExecStart cleared, then ours; the env file holds K3S_TOKEN (0600). */
export function renderSystemdDropIn(bin: string, command: K3sCommand): string {
  const words = [bin, command.subcommand, ...command.args].map(systemdWord).join(' ');
  return [
    '# Written by kairos-mesh from the committed role; changes are overwritten.',
    '[Service]',
    `EnvironmentFile=-${envFilePath(command)}`,
    'ExecStart=',
    `ExecStart=${words}`,
    '',
  ].join('\n');
}

/** KEY="value" lines systemd's EnvironmentFile and POSIX shells both read. */
export function renderEnvFile(env: Record<string, string>): string {
  return Object.keys(env)
    .sort()
    .map((key) => `${key}=${shellWord(env[key] ?? '')}`)
    .join('\n')
    .concat('\n');
}

/** OpenRC: the init script reads `command_args` from /etc/rancher/k3s/<service>.env. */
export function renderOpenRcArgs(command: K3sCommand): string {
  const args = [command.subcommand, ...command.args].map(shellWord).join(' ');
  return `# Written by kairos-mesh from the committed role; changes are overwritten.\ncommand_args=${shellWord(args)}\n`;
}

/** The admin kubeconfig for an operator: the loopback server address becomes `address`. */
export function rewriteKubeconfig(kubeconfig: string, address: string): string {
  const host = address.includes(':') ? `[${address}]` : address;
  return kubeconfig.replace(
    /(server:\s*["']?https:\/\/)(127\.0\.0\.1|localhost|\[::1\])(:\d+)?/g,
    (_match, prefix: string, _host: string, port: string | undefined) => `${prefix}${host}${port ?? ''}`,
  );
}
