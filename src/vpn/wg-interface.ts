import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { VpnBackend } from '../config/config.ts';
import { ExitCode, KairosError } from '../shared/errors.ts';
import { run as runUnbounded, type ExecOptions, type ExecResult } from '../shared/exec.ts';
import { sleep } from '../shared/sleep.ts';
import { parseWgDump, type WgDump } from './wg-dump.ts';

/** A hung `wg` or `ip` (e.g. a wedged wireguard-go) must not freeze the reconcile loop. */
const COMMAND_TIMEOUT_MS = 10_000;

function run(file: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return runUnbounded(file, args, { signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS), ...options });
}

/** Where wireguard-go keeps one control socket per interface (shared by all namespaces). */
const WIREGUARD_GO_SOCKETS = '/var/run/wireguard';
const COORDINATION_ONLY = '`--no-vpn` runs coordination only';

/**
 * The WireGuard interface through `ip` and `wg` (argument vectors, never a shell): the kernel
 * module where it exists, else `wireguard-go`, which runs detached so `--vpn-keep` can leave
 * the interface working after the daemon exits; deleting the link ends that process.
 */
export class WgInterface {
  readonly name: string;
  private readonly backendSetting: VpnBackend;
  private readonly log: Logger;
  backend: 'kernel' | 'userspace' | undefined;

  constructor(name: string, backend: VpnBackend, log: Logger) {
    this.name = name;
    this.backendSetting = backend;
    this.log = log;
  }

  /** Root and the tools, with one line saying what is missing. */
  /** `uid` is the effective user (tests pass another one). */
  async preflight(uid: number | undefined = process.getuid?.()): Promise<void> {
    if (uid !== undefined && uid !== 0) {
      throw new KairosError(
        'VPN_NEEDS_ROOT',
        `the VPN needs root (CAP_NET_ADMIN) to create ${this.name}: run as root, or ${COORDINATION_ONLY}`,
        { exitCode: ExitCode.noPerm },
      );
    }
    const tools: Array<[string, string[], string]> = [
      ['ip', ['-V'], 'iproute2'],
      ['wg', ['--version'], 'wireguard-tools'],
    ];
    if (this.backendSetting === 'userspace') tools.push(['wireguard-go', ['--version'], 'wireguard-go']);
    for (const [tool, args, pkg] of tools) await requireTool(tool, args, pkg);
  }

  /** Creates the interface unless a WireGuard interface of that name exists (kept from before). */
  async ensure(): Promise<'kernel' | 'userspace'> {
    const existing = await run('ip', ['-d', '-j', 'link', 'show', 'dev', this.name], { allowFailure: true });
    if (existing.exitCode === 0) {
      const isWg = await run('wg', ['show', this.name, 'public-key'], { allowFailure: true });
      if (isWg.exitCode !== 0)
        throw new KairosError(
          'VPN_IFACE_BUSY',
          `interface ${this.name} exists and is not WireGuard: pick another --vpn-iface`,
          {
            exitCode: ExitCode.config,
          },
        );
      this.backend = existing.stdout.includes('"info_kind":"wireguard"') ? 'kernel' : 'userspace';
      this.log.info({ iface: this.name, backend: this.backend }, 'reusing existing WireGuard interface');
      return this.backend;
    }
    if (this.backendSetting !== 'userspace') {
      const kernel = await run('ip', ['link', 'add', 'dev', this.name, 'type', 'wireguard'], {
        allowFailure: true,
      });
      if (kernel.exitCode === 0) return (this.backend = 'kernel');
      if (this.backendSetting === 'kernel')
        throw new KairosError(
          'VPN_NO_KERNEL_WIREGUARD',
          `this kernel has no WireGuard module (${firstLine(kernel.stderr)}): use --vpn-backend userspace with wireguard-go, or ${COORDINATION_ONLY}`,
          { exitCode: ExitCode.unavailable },
        );
    }
    await requireTool('wireguard-go', ['--version'], 'wireguard-go');
    const started = await run('wireguard-go', [this.name], { allowFailure: true });
    if (started.exitCode !== 0)
      throw new KairosError(
        'VPN_USERSPACE_FAILED',
        `wireguard-go could not create ${this.name}: ${firstLine(started.stderr)}`,
        {
          exitCode: ExitCode.osErr,
        },
      );
    return (this.backend = 'userspace');
  }

  async exists(): Promise<boolean> {
    return (await run('ip', ['link', 'show', 'dev', this.name], { allowFailure: true })).exitCode === 0;
  }

  async configure(privateKeyFile: string, listenPort: number, mtu: number): Promise<void> {
    await run('wg', ['set', this.name, 'private-key', privateKeyFile, 'listen-port', String(listenPort)]);
    await run('ip', ['link', 'set', 'dev', this.name, 'mtu', String(mtu), 'up']);
  }

  /** Makes `ip/prefix` the one IPv4 address of the interface; the prefix route covers the overlay. */
  async setAddress(ip: string, prefix: number): Promise<void> {
    const shown = await run('ip', ['-4', '-j', 'addr', 'show', 'dev', this.name]);
    const present = parseAddresses(shown.stdout);
    const wanted = `${ip}/${prefix}`;
    for (const address of present)
      if (address !== wanted) await run('ip', ['addr', 'del', address, 'dev', this.name]);
    if (!present.includes(wanted)) await run('ip', ['addr', 'add', wanted, 'dev', this.name]);
  }

  async dump(): Promise<WgDump> {
    return parseWgDump((await run('wg', ['show', this.name, 'dump'])).stdout);
  }

  async apply(commands: readonly string[][]): Promise<void> {
    for (const args of commands) await run('wg', args);
  }

  /**
   * Deletes the link; wireguard-go notices and exits, removing its control socket. Waits (up
   * to 3 s) for that socket to go, so a stopped daemon leaves no wireguard-go behind.
   */
  async remove(): Promise<void> {
    await run('ip', ['link', 'del', 'dev', this.name], { allowFailure: true });
    const socket = join(WIREGUARD_GO_SOCKETS, `${this.name}.sock`);
    for (let waited = 0; waited < 3_000 && existsSync(socket); waited += 50) await sleep(50);
  }
}

async function requireTool(tool: string, args: string[], pkg: string): Promise<void> {
  try {
    await run(tool, args, { allowFailure: true });
  } catch (error) {
    if (error instanceof KairosError && error.code === 'EXEC_NOT_FOUND')
      throw new KairosError(
        'VPN_TOOL_MISSING',
        `${tool} is missing: install ${pkg}, or ${COORDINATION_ONLY}`,
        {
          exitCode: ExitCode.unavailable,
        },
      );
    throw error;
  }
}

function parseAddresses(json: string): string[] {
  const links = JSON.parse(json === '' ? '[]' : json) as Array<{
    addr_info?: Array<{ local: string; prefixlen: number }>;
  }>;
  return links.flatMap((link) => (link.addr_info ?? []).map((info) => `${info.local}/${info.prefixlen}`));
}

function firstLine(text: string): string {
  return text.split('\n').find((line) => line.trim() !== '') ?? 'no error output';
}
