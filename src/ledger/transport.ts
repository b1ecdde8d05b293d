import type { Stream } from '@libp2p/interface';

/** libp2p protocol of anti-entropy (version-vector exchange + range streaming). */
export const LEDGER_SYNC_PROTOCOL = '/kairos-mesh/ledger/sync/1.0.0';

/**
 * What the ledger needs from the mesh. The daemon implements it over the admitted libp2p node
 * (see libp2p-transport.ts); every peer it reports or lets through has passed admission.
 */
export interface LedgerTransport {
  /** This node's peer id. */
  readonly selfId: string;
  /** Gossip to the topic (pull repairs what push loses); resolves with how many peers it went to. */
  publish(topic: string, bytes: Uint8Array): Promise<number>;
  /** Gossip from admitted peers only; `fromPeerId` is the directly connected forwarder. */
  subscribe(topic: string, handler: (fromPeerId: string, bytes: Uint8Array) => void): () => void;
  /** Incoming streams of `protocol` from admitted peers only (others are refused by the transport). */
  handle(protocol: string, handler: (stream: Stream, peerId: string) => void): Promise<void>;
  unhandle(protocol: string): Promise<void>;
  /** Opens a stream to an admitted peer (works over relayed connections). */
  dialProtocol(peerId: string, protocol: string, signal: AbortSignal): Promise<Stream>;
  /** Currently connected, admitted peers. */
  admittedPeers(): string[];
  /** Called each time a peer passes admission (the ledger syncs with it at once). */
  onPeerAdmitted(callback: (peerId: string) => void): () => void;
  /**
   * Optional, the mesh's presence datagrams: a query that fits one datagram to a member reached
   * that way (before its connection is up, and for a heartbeat after; undefined: not reached so,
   * or no answer in time), the answering side, and a call when such a member is first heard
   * (see src/mesh/presence.ts).
   */
  queryByDatagram?(
    peerId: string,
    protocol: string,
    request: Uint8Array,
    timeoutMs: number,
  ): Promise<Uint8Array | undefined>;
  handleDatagramQuery?(
    protocol: string,
    handler: (peerId: string, request: Uint8Array) => Promise<Uint8Array>,
  ): void;
  onPeerLinked?(callback: (peerId: string) => void): () => void;
  /** Gossip that goes with this node's greeting when it joins the mesh (its fresh records). */
  greetWith?(topic: string, provide: () => Uint8Array | undefined): void;
}

/** A transport with no peers: a ledger that only reads and writes locally. */
export function offlineTransport(selfId: string): LedgerTransport {
  return {
    selfId,
    publish: () => Promise.resolve(0),
    subscribe: () => () => undefined,
    handle: () => Promise.resolve(),
    unhandle: () => Promise.resolve(),
    dialProtocol: () => Promise.reject(new Error('offline: no peers')),
    admittedPeers: () => [],
    onPeerAdmitted: () => () => undefined,
  };
}
