/**
 * What the roles module needs from the rest of the daemon. `src/daemon/` passes the real
 * ledger, presence and mesh in; tests pass fakes.
 */

/** One entry of the replicated ledger: state per key is the highest (lamport, author). */
export interface KvEntry {
  bucket: string;
  key: string;
  value: unknown;
  author: string;
  lamport: number;
  time: number;
}

export interface KvChange {
  bucket: string;
  key: string;
  value: unknown;
  author: string;
  deleted: boolean;
}

/**
 * The ledger. Write rules it enforces: in `votes`, `k3s-join`, `nodes` and `vpn` the key is the
 * writer's peer id; `roles-override` is writable by every member.
 */
export interface KvStore {
  put(bucket: string, key: string, value: unknown): Promise<unknown>;
  get(bucket: string, key: string): Omit<KvEntry, 'bucket' | 'key'> | undefined;
  list(bucket: string): KvEntry[];
  subscribe(listener: (change: KvChange) => void): () => void;
  /**
   * Pulls what `peerId` holds now (anti-entropy; `urgent`: without waiting for a free slot;
   * `refresh`: once `peerId` pulled from its own peers, which then count as covered too);
   * without it the bootstrap waits its window.
   */
  requestSync?(peerId: string, urgent?: boolean, refresh?: boolean): void;
  /** A time (ms, the node's clock) such that this node holds every entry `peerId` held then. */
  coveredSince?(peerId: string): number | undefined;
  /** Fires each time `coveredSince` of a peer moves. */
  onCovered?(listener: (peerId: string) => void): () => void;
}

export interface Member {
  peerId: string;
  name: string;
}

/** Presence: who is alive right now (self included). */
export interface Membership {
  alive(): Member[];
  onChange(listener: () => void): () => void;
  /** The overlay (VPN) address of a peer, or undefined while the VPN is off or not up. */
  overlayIp(peerId: string): string | undefined;
  /**
   * The connected member to pull a peer's ledger entries from: the peer itself when connected,
   * else one that sees it alive first-hand (it pulled from the peer when it admitted it).
   * Absent: the peer itself.
   */
  pullSourceFor?(peerId: string): string;
}

/**
 * A request/response exchange with one peer over the mesh (e.g. a libp2p protocol
 * `/kairos-mesh/roles/1.0.0`). Bytes in, bytes out; the roles module encodes JSON in both.
 */
export interface MeshRequests {
  fetchFromPeer(peerId: string, request: Uint8Array, signal?: AbortSignal): Promise<Uint8Array>;
  /** Installs the handler for requests from peers; returns a function that removes it. */
  serve(handler: (from: string, request: Uint8Array) => Promise<Uint8Array>): () => void;
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Ledger buckets this module reads or writes. */
export const BUCKETS = {
  votes: 'votes',
  override: 'roles-override',
  join: 'k3s-join',
  nodes: 'nodes',
} as const;
