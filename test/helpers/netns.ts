import { execFileSync } from 'node:child_process';

/** `ip` with an argument vector; throws with ip's own message on failure. */
export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * A test-owned set of namespaces on one bridge. Every name carries the test's prefix so
 * cleanup removes exactly what this test made, even after a failure.
 */
export class BridgeLab {
  readonly bridgeNs: string;
  private readonly prefix: string;
  private readonly namespaces: string[] = [];

  constructor(prefix: string) {
    this.prefix = prefix;
    this.bridgeNs = `${prefix}-br`;
  }

  setUp(): void {
    this.tearDown();
    ip('netns', 'add', this.bridgeNs);
    ip('-n', this.bridgeNs, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', this.bridgeNs, 'link', 'set', 'br0', 'up');
  }

  /** Adds a host namespace with `address` (CIDR) on a veth into the bridge; returns its name. */
  addHost(index: number, address: string): string {
    const ns = `${this.prefix}-h${index}`;
    const hostSide = `${this.prefix}h${index}`.slice(0, 15);
    ip('netns', 'add', ns);
    this.namespaces.push(ns);
    ip('link', 'add', hostSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    ip('link', 'set', hostSide, 'netns', this.bridgeNs);
    ip('-n', this.bridgeNs, 'link', 'set', hostSide, 'master', 'br0', 'up');
    ip('-n', ns, 'addr', 'add', address, 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    // mDNS multicast needs a route in a namespace without a default route.
    ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0');
    return ns;
  }

  tearDown(): void {
    const existing = ip('netns', 'list')
      .split('\n')
      .map((line) => line.split(' ')[0] ?? '')
      .filter((name) => name.startsWith(`${this.prefix}-`));
    for (const ns of existing) ip('netns', 'delete', ns);
    this.namespaces.length = 0;
  }
}
