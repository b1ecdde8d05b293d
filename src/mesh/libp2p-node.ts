import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2';
import { gossipsub } from '@libp2p/gossipsub';
import { identify } from '@libp2p/identify';
import type { PrivateKey } from '@libp2p/interface';
import type { kadDHT } from '@libp2p/kad-dht';
import type { mdns } from '@libp2p/mdns';
import { ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import type { Datastore } from 'interface-datastore';
import { createLibp2p } from 'libp2p';
import type { DhtMode } from '../config/config.ts';
import type { Multiaddr } from '@multiformats/multiaddr';
import { BlockList } from 'node:net';
import './yamux-window-updates.ts';
import { deferRelayListen } from './deferred-relay-listen.ts';

export interface Libp2pNodeOptions {
  privateKey: PrivateKey;
  datastore: Datastore;
  listen: string[];
  mdns: boolean;
  dht: DhtMode;
  relayServer: boolean;
  /** Token-derived prefix: a private DHT and the mDNS service tag are per network. */
  networkPrefix: string;
  mdnsTag: string;
  /** IPv4 ranges never announced to peers (the overlay: the mesh must not depend on it). */
  hiddenCidrs: string[];
  /**
   * Every mDNS answer, also from peers already in the peer store (libp2p's `peer:discovery`
   * fires only for peers new to the store, so a restarted node would never redial them).
   */
  onLanPeer: (peerId: string, addresses: string[]) => void;
}

// mDNS and the DHT are imported only when enabled: a daemon does not hold the code (and the
// DHT's prefix table of 65,536 numbers) of what its settings leave off.
async function lanDiscovery(options: Libp2pNodeOptions): Promise<ReturnType<typeof mdns>> {
  const { mdns } = await import('@libp2p/mdns');
  const factory = mdns({ serviceTag: options.mdnsTag, interval: 5_000 });
  return (components) => {
    const discovery = factory(components);
    discovery.addEventListener('peer', (event) =>
      options.onLanPeer(event.detail.id.toString(), event.detail.multiaddrs.map(String)),
    );
    return discovery;
  };
}

async function dhtService(options: Libp2pNodeOptions): Promise<ReturnType<typeof kadDHT>> {
  const { kadDHT, passthroughMapper, removePrivateAddressesMapper } = await import('@libp2p/kad-dht');
  return kadDHT(
    options.dht === 'private'
      ? {
          clientMode: false,
          protocol: `${options.networkPrefix}/kad/1.0.0`,
          peerInfoMapper: passthroughMapper,
        }
      : { clientMode: false, peerInfoMapper: removePrivateAddressesMapper },
  );
}

function announceFilterFor(hiddenCidrs: string[]): (addresses: Multiaddr[]) => Multiaddr[] {
  const hidden = new BlockList();
  for (const cidr of hiddenCidrs) {
    const [network, prefix] = cidr.split('/');
    if (network !== undefined && prefix !== undefined) hidden.addSubnet(network, Number(prefix), 'ipv4');
  }
  return (addresses) =>
    addresses.filter((address) => {
      const ip4 = address.getComponents().find((component) => component.name === 'ip4')?.value;
      return ip4 === undefined || !hidden.check(ip4, 'ipv4');
    });
}

/** Reservations start 5-15 s after the start, spread out so a mass boot's do not come at once. */
function relayListenDelayMs(): number {
  return 5_000 + Math.random() * 10_000;
}

/** Ways to reach us and to find others; the admission layer decides who is a member. */
export async function createLibp2pNode(options: Libp2pNodeOptions) {
  const services = {
    identify: identify(),
    ping: ping(),
    // Gossipsub's default scoring punishes many peers behind one IP (one host, one NAT);
    // every peer we hear from has proven the token, so that signal is noise here.
    pubsub: gossipsub({
      allowPublishToZeroTopicPeers: true,
      // Only admitted members reach the topic (each hop is checked) and every ledger entry is
      // signed by its author, so gossipsub's own per-message signature (the largest CPU cost
      // of a put) would prove nothing more.
      globalSignaturePolicy: 'StrictNoSign',
      // Publishing floods every direct peer already; a thinner forwarding mesh sends each
      // message fewer times (robustness comes from the ledger's anti-entropy, not from D).
      // But a node many members graft (the one they all bootstrapped to, while the full mesh
      // is not filled in yet: see dial-policy.ts) must keep forwarding to all of them, so it
      // prunes only past Dhi: below that, a message reaches them one hop after it.
      D: 3,
      Dlo: 2,
      Dhi: 32,
      Dlazy: 3,
      // Every peer that reaches the topic is an admitted member. gossipsub's behaviour penalty
      // (an IWANT not answered within 3 s, which a loaded member can miss) made a member's score
      // negative, and the node that pruned it kept it out of its forwarding mesh for the 60 s
      // prune backoff: while members still reach each other through one node (see
      // dial-policy.ts), that member got no gossip at all.
      scoreParams: { IPColocationFactorWeight: 0, behaviourPenaltyWeight: 0 },
      // gossipsub 1.2 tells every mesh peer IDONTWANT for each message of 512 bytes or more
      // before it forwards it: for ledger entries (~1 KB) that doubled what a node sends, and a
      // hub forwarding everyone's entries spent a fifth of its time on it. Large catch-up frames
      // still get it.
      idontwantMinDataSize: 64 * 1024,
      maxInboundDataLength: 4 * 1024 * 1024,
    }),
    ...(options.dht === 'off' ? {} : { dht: await dhtService(options) }),
    ...(options.relayServer
      ? { relay: circuitRelayServer({ reservations: { applyDefaultLimit: false, maxReservations: 256 } }) }
      : {}),
  };
  return createLibp2p({
    privateKey: options.privateKey,
    datastore: options.datastore,
    addresses: {
      listen: [...options.listen, '/p2p-circuit'],
      announceFilter: announceFilterFor(options.hiddenCidrs),
    },
    transports: [tcp(), deferRelayListen(circuitRelayTransport(), relayListenDelayMs)],
    connectionEncrypters: [noise()],
    // Presence keepalives already exercise every member connection; yamux pings would double them.
    streamMuxers: [yamux({ enableKeepAlive: false })],
    peerDiscovery: options.mdns ? [await lanDiscovery(options)] : [],
    connectionManager: {
      maxConnections: 512,
      inboundConnectionThreshold: 1_000,
      maxIncomingPendingConnections: 256,
    },
    // Presence keepalives already prove every member connection alive, far cheaper.
    connectionMonitor: { enabled: false },
    services,
  });
}

export type MeshLibp2p = Awaited<ReturnType<typeof createLibp2pNode>>;
