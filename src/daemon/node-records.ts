import type { Ledger } from '../ledger/index.ts';
import type { Mesh } from '../mesh/index.ts';

/** What each node publishes about itself in `nodes/<peerId>`: the durable half of membership. */
export interface NodeRecord {
  name: string;
  addresses: string[];
}

function isNodeRecord(value: unknown): value is NodeRecord {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return (
    typeof record['name'] === 'string' &&
    Array.isArray(record['addresses']) &&
    record['addresses'].every((a) => typeof a === 'string')
  );
}

/**
 * Keeps this node's record current and feeds every member's record to the mesh, so a node
 * restarted with an empty peer list still knows — and dials — every member. Liveness stays in
 * the mesh's presence: a record says who a member is, never whether it is alive.
 */
export class NodeRecords {
  private readonly ledger: Ledger;
  private readonly mesh: Mesh;
  private readonly name: string;
  private readonly cleanups: Array<() => void> = [];
  private published = '';

  constructor(ledger: Ledger, mesh: Mesh, name: string) {
    this.ledger = ledger;
    this.mesh = mesh;
    this.name = name;
  }

  async start(): Promise<void> {
    for (const item of this.ledger.list('nodes')) this.learn(item.key, item.value);
    this.cleanups.push(
      this.ledger.subscribe((change) => {
        if (change.bucket === 'nodes' && !change.deleted) this.learn(change.key, change.value);
      }),
      this.mesh.onAddressesChanged(() => void this.publish().catch(() => undefined)),
    );
    await this.publish();
  }

  stop(): void {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
  }

  /** Writes our record when our name or addresses changed (not on every start). */
  async publish(): Promise<void> {
    // Circuit addresses stay: for a member behind NAT they are the only way in.
    const record: NodeRecord = { name: this.name, addresses: this.mesh.addresses() };
    const text = JSON.stringify(record);
    const current = this.ledger.get('nodes', this.mesh.peerId);
    if (text === this.published || (current !== undefined && JSON.stringify(current.value) === text)) {
      this.published = text;
      return;
    }
    await this.ledger.put('nodes', this.mesh.peerId, record);
    this.published = text;
  }

  private learn(peerId: string, value: unknown): void {
    if (isNodeRecord(value)) this.mesh.learnMember(peerId, value.name, value.addresses);
  }
}
