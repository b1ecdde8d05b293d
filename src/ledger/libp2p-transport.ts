import type { Libp2p, Stream } from '@libp2p/interface';
import type { GossipSub } from '@libp2p/gossipsub';
import { peerIdFromString } from '@libp2p/peer-id';
import type { LedgerTransport } from './transport.ts';

export type Libp2pLedgerNode = Libp2p<{ pubsub: GossipSub }>;

export interface Libp2pLedgerTransportOptions {
  /** Whether a peer passed admission; gossip and streams from others are ignored / refused. */
  isAdmitted: (peerId: string) => boolean;
  /** Connected, admitted peers; default: connected peers that pass isAdmitted. */
  admittedPeers?: () => string[];
  /** Registers a callback for newly admitted peers; default: every new connection's peer. */
  onPeerAdmitted?: (callback: (peerId: string) => void) => () => void;
  /** Concurrent inbound sync streams per connection; default 8. */
  maxInboundStreams?: number;
}

/**
 * The LedgerTransport over a real libp2p node with gossipsub at `services.pubsub`. Streams run
 * on limited (relayed) connections too, so sync works through a circuit relay.
 */
export function createLibp2pLedgerTransport(
  node: Libp2pLedgerNode,
  options: Libp2pLedgerTransportOptions,
): LedgerTransport {
  const { isAdmitted } = options;
  const pubsub = node.services.pubsub;
  const admittedPeers =
    options.admittedPeers ??
    (() =>
      node
        .getPeers()
        .map((peer) => peer.toString())
        .filter((peer) => isAdmitted(peer)));
  const onPeerAdmitted =
    options.onPeerAdmitted ??
    ((callback: (peerId: string) => void) => {
      const listener = (event: CustomEvent<{ remotePeer: { toString(): string } }>): void => {
        const peer = event.detail.remotePeer.toString();
        if (isAdmitted(peer)) callback(peer);
      };
      node.addEventListener('connection:open', listener);
      return () => node.removeEventListener('connection:open', listener);
    });

  return {
    selfId: node.peerId.toString(),
    async publish(topic, bytes) {
      return (await pubsub.publish(topic, bytes)).recipients.length;
    },
    subscribe(topic, handler) {
      pubsub.subscribe(topic);
      const listener = (
        event: CustomEvent<{
          propagationSource: { toString(): string };
          msg: { topic: string; data: Uint8Array };
        }>,
      ): void => {
        const { propagationSource, msg } = event.detail;
        if (msg.topic !== topic) return;
        const from = propagationSource.toString();
        if (isAdmitted(from)) handler(from, msg.data);
      };
      pubsub.addEventListener('gossipsub:message', listener);
      return () => {
        pubsub.removeEventListener('gossipsub:message', listener);
        pubsub.unsubscribe(topic);
      };
    },
    async handle(protocol, handler) {
      await node.handle(
        protocol,
        (stream: Stream, connection) => {
          const peer = connection.remotePeer.toString();
          if (!isAdmitted(peer)) {
            stream.abort(new Error('not admitted'));
            return;
          }
          handler(stream, peer);
        },
        { runOnLimitedConnection: true, maxInboundStreams: options.maxInboundStreams ?? 8 },
      );
    },
    async unhandle(protocol) {
      await node.unhandle(protocol);
    },
    dialProtocol(peerId, protocol, signal) {
      return node.dialProtocol(peerIdFromString(peerId), protocol, { signal, runOnLimitedConnection: true });
    },
    admittedPeers,
    onPeerAdmitted,
  };
}
