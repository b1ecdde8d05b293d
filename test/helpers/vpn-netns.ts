/**
 * Network-namespace topologies and vpn-node processes for the VPN system tests and
 * bench/overlay. Every name carries the caller's prefix, so cleanup removes exactly what the
 * caller made (by name and pid, never by pattern over the whole machine).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/shared/exec.ts';
import { sleep } from '../../src/shared/sleep.ts';
import type { VpnStatus } from '../../src/vpn/index.ts';
import type { NodeSpec } from './vpn-node.ts';

const NODE_SCRIPT = join(import.meta.dirname, 'vpn-node.ts');

/** A daemon in its own namespace: fixed port, no DHT, no roles, overlay in 100.64.0.0/16. */
export const NETNS_DAEMON_ARGS = [
  '--listen',
  '/ip4/0.0.0.0/tcp/4001',
  '--dht',
  'off',
  '--role',
  'none',
  '--vpn-cidr',
  '100.64.0.0/16',
] as const;

export async function ns(namespace: string, args: string[]): Promise<string> {
  return (await run('ip', ['netns', 'exec', namespace, ...args])).stdout;
}

export async function nsTry(namespace: string, args: string[]): Promise<number> {
  return (await run('ip', ['netns', 'exec', namespace, ...args], { allowFailure: true })).exitCode;
}

/** A namespace per node, all on one bridge (the bridge lives in its own namespace too). */
export class Topology {
  readonly prefix: string;
  readonly namespaces: string[] = [];

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  async addNamespace(name: string): Promise<string> {
    const namespace = `${this.prefix}-${name}`;
    // A namespace of this exact name left by an aborted run of the same test goes first.
    await run('ip', ['netns', 'del', namespace], { allowFailure: true });
    await run('ip', ['netns', 'add', namespace]);
    this.namespaces.push(namespace);
    await ns(namespace, ['ip', 'link', 'set', 'lo', 'up']);
    return namespace;
  }

  /** Links `a` and `b` with a veth pair named `<prefix><tag>a`/`<prefix><tag>b`, addressed /24. */
  async link(a: string, b: string, tag: string, addressA?: string, addressB?: string): Promise<void> {
    const left = `${this.prefix}${tag}a`;
    const right = `${this.prefix}${tag}b`;
    await run('ip', ['link', 'add', left, 'netns', a, 'type', 'veth', 'peer', 'name', right, 'netns', b]);
    if (addressA !== undefined) await ns(a, ['ip', 'addr', 'add', addressA, 'dev', left]);
    if (addressB !== undefined) await ns(b, ['ip', 'addr', 'add', addressB, 'dev', right]);
    await ns(a, ['ip', 'link', 'set', left, 'up']);
    await ns(b, ['ip', 'link', 'set', right, 'up']);
  }

  /** A bridge namespace with nodes hanging off it: returns the node namespaces. */
  async bridge(count: number, subnet: string): Promise<string[]> {
    const hub = await this.addNamespace('br');
    const bridge = `${this.prefix}br`;
    await ns(hub, ['ip', 'link', 'add', bridge, 'type', 'bridge']);
    await ns(hub, ['ip', 'link', 'set', bridge, 'up']);
    const nodes: string[] = [];
    for (let i = 1; i <= count; i++) nodes.push(await this.attach(hub, bridge, `n${i}`, `${subnet}.${i}/24`));
    return nodes;
  }

  async attach(hub: string, bridge: string, name: string, address: string): Promise<string> {
    const node = await this.addNamespace(name);
    await this.link(node, hub, name, address);
    await ns(hub, ['ip', 'link', 'set', `${this.prefix}${name}b`, 'master', bridge]);
    return node;
  }

  /** A bridge namespace `hub` with a bridge in it; returns both names. */
  async hub(): Promise<{ hub: string; bridge: string }> {
    const hub = await this.addNamespace('hub');
    const bridge = `${this.prefix}br`;
    await ns(hub, ['ip', 'link', 'add', bridge, 'type', 'bridge']);
    await ns(hub, ['ip', 'link', 'set', bridge, 'up']);
    return { hub, bridge };
  }

  /**
   * A host behind its own NAT router: the router's WAN (`wan`/24) is on the bridge, its LAN is
   * `<lan>.0/24` with the host at `<lan>.2`. The router masquerades with random source ports and
   * drops every new inbound connection, so neither UDP hole punching nor inbound TCP works.
   */
  async natHost(hub: string, bridge: string, name: string, wan: string, lan: string): Promise<string> {
    const router = await this.attach(hub, bridge, `r${name}`, `${wan}/24`);
    const host = await this.addNamespace(name);
    await this.link(host, router, `l${name}`, `${lan}.2/24`, `${lan}.1/24`);
    await ns(host, ['ip', 'route', 'add', 'default', 'via', `${lan}.1`]);
    await ns(router, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    const wanIf = `${this.prefix}r${name}a`;
    const table = this.prefix;
    await ns(router, ['nft', 'add', 'table', 'ip', table]);
    await ns(router, [
      'nft',
      'add',
      'chain',
      'ip',
      table,
      'natout',
      '{ type nat hook postrouting priority 100 ; }',
    ]);
    await ns(router, ['nft', 'add', 'rule', 'ip', table, 'natout', 'oifname', wanIf, 'masquerade', 'random']);
    await ns(router, [
      'nft',
      'add',
      'chain',
      'ip',
      table,
      'inbound',
      '{ type filter hook forward priority 0 ; }',
    ]);
    await ns(router, [
      'nft',
      'add',
      'rule',
      'ip',
      table,
      'inbound',
      'iifname',
      wanIf,
      'ct',
      'state',
      'established,related',
      'accept',
    ]);
    await ns(router, ['nft', 'add', 'rule', 'ip', table, 'inbound', 'iifname', wanIf, 'drop']);
    return host;
  }

  async destroy(): Promise<void> {
    for (const namespace of this.namespaces.splice(0).reverse())
      await run('ip', ['netns', 'del', namespace], { allowFailure: true });
  }
}

export interface VpnNode {
  spec: NodeSpec;
  namespace: string;
  process: ChildProcess;
  exited: Promise<void>;
  stderr: string;
}

export async function makeSharedDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `${prefix}-`));
}

export function startNode(namespace: string, spec: NodeSpec): VpnNode {
  const child = spawn(
    'ip',
    ['netns', 'exec', namespace, process.execPath, NODE_SCRIPT, JSON.stringify(spec)],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const node: VpnNode = {
    spec,
    namespace,
    process: child,
    stderr: '',
    exited: new Promise((resolve) => child.once('exit', () => resolve())),
  };
  child.stderr?.on('data', (chunk: Buffer) => {
    node.stderr = (node.stderr + chunk.toString()).slice(-20_000);
  });
  return node;
}

export type NodeStatus = VpnStatus & {
  peerId: string;
  pid: number;
  at: number;
  error?: string;
  stopped?: boolean;
};

export async function readStatus(node: VpnNode): Promise<NodeStatus | undefined> {
  try {
    return JSON.parse(
      await readFile(join(node.spec.dir, 'status', `${node.spec.name}.json`), 'utf8'),
    ) as NodeStatus;
  } catch {
    return undefined;
  }
}

/** Polls until `check` returns a value or `timeoutMs` passes; then throws with `what`. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

export async function waitStarted(node: VpnNode, timeoutMs = 20_000): Promise<NodeStatus> {
  return waitFor(`${node.spec.name} to start`, timeoutMs, async () => {
    const status = await readStatus(node);
    if (status?.error !== undefined) throw new Error(`${node.spec.name} failed: ${status.error}`);
    return status?.overlayIp === undefined || status.overlayIp === null || status.stopped === true
      ? undefined
      : status;
  });
}

export async function stopNode(node: VpnNode): Promise<void> {
  if (node.process.exitCode !== null || node.process.signalCode !== null) return;
  node.process.kill('SIGTERM');
  const timeout = sleep(15_000).then(() => 'timeout');
  if ((await Promise.race([node.exited.then(() => 'exited'), timeout])) === 'timeout') {
    console.warn(`${node.spec.name} did not stop within 15 s; killing it. Its log:\n${node.stderr}`);
    node.process.kill('SIGKILL');
    await node.exited;
  }
}

/** True when one ping over the overlay gets an answer within `waitSeconds`. */
export async function pings(namespace: string, address: string, waitSeconds = 1): Promise<boolean> {
  return (await nsTry(namespace, ['ping', '-c', '1', '-W', String(waitSeconds), address])) === 0;
}

/** Removes an interface left by a node that was killed (wireguard-go exits with its link). */
export async function removeLink(namespace: string, iface: string): Promise<void> {
  if (existsSync(`/run/netns/${namespace}`)) await nsTry(namespace, ['ip', 'link', 'del', iface]);
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Pids of wireguard-go processes serving `iface` (from /proc/<pid>/cmdline, matched exactly). */
export async function wireguardGoPids(iface: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = await readFile(`/proc/${entry}/cmdline`, 'utf8').then(
      (text) => text.split('\0'),
      () => [],
    );
    if (argv[0]?.endsWith('wireguard-go') === true && argv[1] === iface) pids.push(Number(entry));
  }
  return pids;
}
