import type { KvChange, KvEntry, KvStore, Member, Membership, MeshRequests } from '../ports.ts';

/**
 * TEST HELPER ONLY: an in-memory stand-in for the replicated ledger, presence and mesh, for
 * in-process tests of RolesService. Each node has its own replica; state per key is the entry
 * with the highest (lamport, author), as in the real ledger; writes reach the other replicas
 * asynchronously unless a partition separates them, and `heal()` plays anti-entropy. The
 * write rules of the real ledger are enforced (`votes`, `k3s-join`, `nodes`, `vpn`: key = author).
 */
const OWNED_BUCKETS = new Set(['votes', 'k3s-join', 'nodes', 'vpn']);

export class FakeNetwork {
  readonly replicas = new Map<string, FakeLedger>();
  readonly names = new Map<string, string>();
  readonly up = new Set<string>();
  readonly overlay = new Map<string, string>();
  private readonly groups = new Map<string, number>();
  private readonly presenceListeners = new Map<string, Set<() => void>>();
  readonly handlers = new Map<string, (from: string, request: Uint8Array) => Promise<Uint8Array>>();

  /** Adds a node (or brings a stopped one back with its replica, like a persistent ledger). */
  join(peerId: string, name = peerId, overlayIp?: string): FakeLedger {
    let replica = this.replicas.get(peerId);
    if (replica === undefined) {
      replica = new FakeLedger(this, peerId);
      this.replicas.set(peerId, replica);
    }
    this.names.set(peerId, name);
    if (overlayIp !== undefined) this.overlay.set(peerId, overlayIp);
    this.up.add(peerId);
    this.heal();
    this.presenceChanged();
    return replica;
  }

  /** The node stops (crash or shutdown): it is no longer alive anywhere; its replica stays. */
  leave(peerId: string): void {
    this.up.delete(peerId);
    this.handlers.delete(peerId);
    this.presenceChanged();
  }

  /** Splits the network: nodes only see and reach nodes of their own group. */
  partition(...groups: string[][]): void {
    this.groups.clear();
    groups.forEach((group, index) => group.forEach((peerId) => this.groups.set(peerId, index)));
    this.presenceChanged();
  }

  heal(): void {
    this.groups.clear();
    for (const from of this.replicas.values())
      for (const entry of from.entries())
        for (const to of this.replicas.values()) this.deliver(from.peerId, to, entry);
    this.presenceChanged();
  }

  reachable(a: string, b: string): boolean {
    return this.up.has(a) && this.up.has(b) && (this.groups.get(a) ?? -1) === (this.groups.get(b) ?? -1);
  }

  broadcast(from: string, entry: KvEntry): void {
    for (const replica of this.replicas.values())
      if (replica.peerId !== from) setImmediate(() => this.deliver(from, replica, entry));
  }

  private deliver(from: string, to: FakeLedger, entry: KvEntry): void {
    if (from !== to.peerId && !this.reachable(from, to.peerId)) return;
    to.receive(entry);
  }

  membership(peerId: string): Membership {
    return {
      alive: () =>
        [...this.up]
          .filter((other) => this.reachable(peerId, other))
          .map((other): Member => ({ peerId: other, name: this.names.get(other) ?? other })),
      onChange: (listener) => {
        let listeners = this.presenceListeners.get(peerId);
        if (listeners === undefined) this.presenceListeners.set(peerId, (listeners = new Set()));
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      overlayIp: (other) => this.overlay.get(other),
    };
  }

  mesh(peerId: string): MeshRequests {
    return {
      fetchFromPeer: async (other, request) => {
        const handler = this.handlers.get(other);
        if (handler === undefined || !this.reachable(peerId, other))
          throw new Error(`${other} is unreachable`);
        return handler(peerId, request);
      },
      serve: (handler) => {
        this.handlers.set(peerId, handler);
        return () => this.handlers.delete(peerId);
      },
    };
  }

  private presenceChanged(): void {
    for (const [peerId, listeners] of this.presenceListeners)
      if (this.up.has(peerId)) for (const listener of listeners) setImmediate(listener);
  }
}

export class FakeLedger implements KvStore {
  readonly peerId: string;
  private readonly network: FakeNetwork;
  private readonly state = new Map<string, KvEntry>();
  private readonly listeners = new Set<(change: KvChange) => void>();
  private readonly coverListeners = new Set<(peerId: string) => void>();
  private readonly covered = new Map<string, number>();
  /** Pulls asked for, by peer, with whether each was urgent (tests read it). */
  readonly pulls: Array<{ peerId: string; urgent: boolean; refresh?: boolean }> = [];
  private lamport = 0;

  constructor(network: FakeNetwork, peerId: string) {
    this.network = network;
    this.peerId = peerId;
  }

  put(bucket: string, key: string, value: unknown): Promise<unknown> {
    if (OWNED_BUCKETS.has(bucket) && key !== this.peerId)
      return Promise.reject(new Error(`ledger write rule: ${bucket}/${key} is not ours`));
    const entry: KvEntry = {
      bucket,
      key,
      value: structuredClone(value),
      author: this.peerId,
      lamport: ++this.lamport,
      time: Date.now(),
    };
    this.receive(entry);
    this.network.broadcast(this.peerId, entry);
    return Promise.resolve(entry);
  }

  get(bucket: string, key: string): Omit<KvEntry, 'bucket' | 'key'> | undefined {
    return this.state.get(`${bucket}/${key}`);
  }

  list(bucket: string): KvEntry[] {
    return [...this.state.values()].filter((entry) => entry.bucket === bucket);
  }

  subscribe(listener: (change: KvChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * A pull: on the next turn, every entry `peerId` holds then, and `peerId` counts as covered;
   * with `refresh`, so do the replicas `peerId` reaches (it pulled from them first).
   */
  requestSync(peerId: string, urgent = false, refresh = false): void {
    this.pulls.push({ peerId, urgent, ...(refresh ? { refresh } : {}) });
    const startedAt = Date.now();
    setImmediate(() => {
      if (!this.network.reachable(this.peerId, peerId)) return;
      const sources = [peerId];
      if (refresh)
        for (const other of this.network.replicas.keys())
          if (other !== this.peerId && other !== peerId && this.network.reachable(peerId, other))
            sources.push(other);
      for (const source of sources) {
        const replica = this.network.replicas.get(source);
        if (replica === undefined) continue;
        for (const entry of replica.entries()) this.receive(entry);
        this.covered.set(source, Math.max(startedAt, this.covered.get(source) ?? startedAt));
        for (const listener of this.coverListeners) listener(source);
      }
    });
  }

  coveredSince(peerId: string): number | undefined {
    return this.covered.get(peerId);
  }

  onCovered(listener: (peerId: string) => void): () => void {
    this.coverListeners.add(listener);
    return () => this.coverListeners.delete(listener);
  }

  entries(): KvEntry[] {
    return [...this.state.values()];
  }

  receive(entry: KvEntry): void {
    this.lamport = Math.max(this.lamport, entry.lamport);
    const id = `${entry.bucket}/${entry.key}`;
    const current = this.state.get(id);
    if (
      current !== undefined &&
      (current.lamport > entry.lamport ||
        (current.lamport === entry.lamport && current.author >= entry.author))
    )
      return;
    this.state.set(id, entry);
    const change: KvChange = {
      bucket: entry.bucket,
      key: entry.key,
      value: entry.value,
      author: entry.author,
      deleted: false,
    };
    for (const listener of this.listeners) listener(change);
  }
}
