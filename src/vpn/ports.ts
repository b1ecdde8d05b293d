import type { Uint8ArrayList } from 'uint8arraylist';

/** The replicated ledger as the VPN uses it. In bucket `vpn` only the owner writes its key. */
export interface VpnKv {
  put(bucket: string, key: string, value: unknown): Promise<unknown>;
  get(bucket: string, key: string): unknown;
  list(bucket: string): Promise<VpnKvEntry[]> | VpnKvEntry[];
  subscribe(listener: (change: VpnKvChange) => void): () => void;
}

export interface VpnKvEntry {
  bucket: string;
  key: string;
  value: unknown;
  author: string;
  lamport: number;
  time: number;
}

export interface VpnKvChange {
  bucket: string;
  key: string;
  value: unknown;
  author: string;
  deleted: boolean;
}

/** Who is alive now, and the addresses other peers see this node at. */
export interface VpnMembership {
  alive(): Array<{ peerId: string }>;
  onChange(callback: () => void): (() => void) | void;
  /** IP addresses (no ports) of this node as observed by its peers. */
  observedAddresses(): string[];
}

/** The subset of a libp2p v3 Stream the relay uses. */
export interface RelayStream {
  send(data: Uint8Array | Uint8ArrayList): boolean;
  close(): Promise<void>;
  abort(error: Error): void;
  addEventListener(type: 'message', listener: (event: { data: Uint8Array | Uint8ArrayList }) => void): void;
  addEventListener(
    type: 'drain' | 'close' | 'remoteCloseWrite',
    listener: () => void,
    options?: { once?: boolean },
  ): void;
}

/** Streams to admitted peers (the daemon passes its libp2p node, with runOnLimitedConnection). */
export interface RelayTransport {
  handle(protocol: string, handler: (stream: RelayStream, peerId: string) => void): Promise<void> | void;
  unhandle?(protocol: string): Promise<void> | void;
  dialProtocol(peerId: string, protocol: string, signal: AbortSignal): Promise<RelayStream>;
}
