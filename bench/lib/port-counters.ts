import { execFileSync } from 'node:child_process';

/**
 * Bytes on the wire per port range, counted by nftables on the output hook (loopback
 * included): every packet whose source or destination port is in a range counts once, IP
 * headers included, so TCP and UDP systems are measured alike. Root only; the table is ours
 * by name and removed by `remove()`.
 */
export class PortCounters {
  private readonly table: string;
  private readonly ranges: Record<string, [number, number]>;

  constructor(table: string, ranges: Record<string, [number, number]>) {
    this.table = table;
    this.ranges = ranges;
  }

  static available(): boolean {
    if (process.getuid?.() !== 0) return false;
    try {
      execFileSync('nft', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  }

  install(): void {
    this.remove();
    const lines = [`table inet ${this.table} {`];
    for (const name of Object.keys(this.ranges)) lines.push(`  counter ${name} {}`);
    lines.push('  chain out {', '    type filter hook output priority 0; policy accept;');
    for (const [name, [low, high]] of Object.entries(this.ranges)) {
      lines.push(`    meta l4proto { tcp, udp } th sport ${low}-${high} counter name ${name} accept`);
      lines.push(`    meta l4proto { tcp, udp } th dport ${low}-${high} counter name ${name} accept`);
    }
    lines.push('  }', '}');
    execFileSync('nft', ['-f', '-'], { input: lines.join('\n') });
  }

  bytes(name: string): number {
    const output = execFileSync('nft', ['-j', 'list', 'counter', 'inet', this.table, name], {
      encoding: 'utf8',
    });
    const parsed = JSON.parse(output) as { nftables: Array<{ counter?: { bytes: number } }> };
    return parsed.nftables.find((item) => item.counter !== undefined)?.counter?.bytes ?? 0;
  }

  remove(): void {
    try {
      execFileSync('nft', ['delete', 'table', 'inet', this.table], { stdio: 'ignore' });
    } catch {
      // not there: nothing to remove
    }
  }
}
