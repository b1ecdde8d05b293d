import type { GossipsubMessage } from '@libp2p/gossipsub';
import { TopicValidatorResult } from '@libp2p/gossipsub';
import type { PeerId, PrivateKey, Stream, StreamHandler } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { DhtMode } from '../config/config.ts';
import type { NetworkKeys } from '../token/index.ts';
import { sleep } from '../shared/sleep.ts';
import { PeerSigner, SignatureVerifier } from '../shared/peer-keys.ts';
import { Admission } from './admission.ts';
import { DiscoveryInbox } from './discovery-inbox.ts';
import { DIAL_TIMING, type DialTiming } from './dial-policy.ts';
import { Dialer } from './dialer.ts';
import { createLibp2pNode, type MeshLibp2p } from './libp2p-node.ts';
import { MemberTable, type MemberView } from './member-table.ts';
import { Presence } from './presence.ts';
import { DatagramMessaging, type QueryHandler } from './datagram-messaging.ts';
import { PresenceUdp } from './presence-udp.ts';
import { Rendezvous } from './rendezvous.ts';
import { dialTarget, parseMultiaddr, peerIdOf, tcpEndpoint } from './parse-multiaddr.ts';
import { PeerStoreFile } from './peer-store-file.ts';

export interface MeshOptions {
  dataDir: string;
  privateKey: PrivateKey;
  keys: NetworkKeys;
  name: string;
  listen: string[];
  bootstrap: string[];
  mdns: boolean;
  dht: DhtMode;
  relayServer: boolean;
  heartbeatMs: number;
  ttlMs: number;
  /** IPv4 ranges never announced (the overlay CIDR). */
  hiddenCidrs?: string[];
  log: Logger;
  now?: () => number;
  /** When members not connected are dialled (tests shorten it); default DIAL_TIMING. */
  dialTiming?: DialTiming;
  /** UDP ports presence datagrams must leave free (the overlay's WireGuard port). */
  reservedUdpPorts?: number[];
}

export interface MeshStatus {
  peerId: string;
  name: string;
  networkId: string;
  fingerprint: string;
  addresses: string[];
  members: number;
  alive: number;
  connections: number;
  admission: { admitted: number; rejected: number };
  /** Presence datagrams (none when the UDP port could not be bound). */
  datagrams: { enabled: boolean; received: number; rejected: number };
}

const ADMISSION_GRACE_MS = 10_000;
/** How long a joiner waits for its bootstrap to answer its greeting before dialling it anyway. */
const GREETING_ANSWER_MS = 200;
/** Once answered, the bootstrap is dialled 1-3 s later (this, times 0.5 to 1.5). */
const BOOTSTRAP_DIAL_SPREAD_MS = 2_000;
/** How long a stream to a member not yet connected waits for the connection and its admission. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * The admission-gated libp2p mesh: who the members are and whether they are alive, plus the
 * gated pub/sub and stream primitives other modules build on.
 */
export class Mesh {
  readonly libp2p: MeshLibp2p;
  readonly peerId: string;
  private readonly admission: Admission;
  private readonly table: MemberTable;
  private readonly presence: Presence;
  private readonly udp: PresenceUdp;
  private readonly datagrams: DatagramMessaging;
  private readonly greetingGossip = new Map<string, () => Uint8Array | undefined>();
  private readonly dialer: Dialer;
  private readonly rendezvous: Rendezvous | undefined;
  private readonly datastore: PeerStoreFile;
  private readonly options: MeshOptions;
  private readonly now: () => number;
  private readonly lanPeers: DiscoveryInbox;

  private constructor(
    libp2p: MeshLibp2p,
    datastore: PeerStoreFile,
    lanPeers: DiscoveryInbox,
    options: MeshOptions,
  ) {
    this.lanPeers = lanPeers;
    this.libp2p = libp2p;
    this.datastore = datastore;
    this.options = options;
    this.now = options.now ?? Date.now;
    this.peerId = libp2p.peerId.toString();
    const log = options.log;
    this.admission = new Admission(libp2p, {
      key: options.keys.admissionKey,
      log,
      graceMs: ADMISSION_GRACE_MS,
      keepNonMembers: options.dht === 'public',
    });
    this.table = new MemberTable({ peerId: this.peerId, name: options.name, addresses: [] }, options.ttlMs);
    this.udp = new PresenceUdp({
      key: options.keys.datagramKey,
      signer: new PeerSigner(options.privateKey),
      verifier: new SignatureVerifier(),
      log,
      now: this.now,
    });
    this.presence = new Presence(
      libp2p,
      this.admission,
      this.table,
      { heartbeatMs: options.heartbeatMs, log, now: this.now, selfName: options.name },
      this.udp,
    );
    this.datagrams = new DatagramMessaging(
      this.presence,
      (topic, data) => void libp2p.services.pubsub.publish(topic, data).catch(() => undefined),
      this.now,
    );
    this.dialer = new Dialer(libp2p, this.table, {
      bootstrap: options.bootstrap,
      log,
      now: this.now,
      intervalMs: 1_000,
      maxBackoffMs: 10_000,
      random: Math.random,
      timing: options.dialTiming ?? DIAL_TIMING,
    });
    this.rendezvous =
      options.dht === 'off'
        ? undefined
        : new Rendezvous(libp2p, {
            rendezvousKey: options.keys.rendezvousKey,
            epochSeconds: options.keys.epochSeconds,
            log,
            now: this.now,
            onFound: (peerId, addresses) => this.dialDiscovered(peerId, addresses),
            isAlone: () => this.aliveMembers().length <= 1,
          });
  }

  static async create(options: MeshOptions): Promise<Mesh> {
    // Before 2026-11-26 the peer store was a LevelDB under peerstore/: a cache nothing reads now.
    await rm(join(options.dataDir, 'peerstore'), { recursive: true, force: true });
    const datastore = new PeerStoreFile(join(options.dataDir, 'peerstore.json'));
    await datastore.open();
    const lanPeers = new DiscoveryInbox();
    const libp2p = await createLibp2pNode({
      privateKey: options.privateKey,
      datastore,
      listen: options.listen,
      mdns: options.mdns,
      dht: options.dht,
      relayServer: options.relayServer,
      networkPrefix: options.keys.topicPrefix,
      mdnsTag: `_km-${options.keys.fingerprint}._udp.local`,
      hiddenCidrs: options.hiddenCidrs ?? [],
      onLanPeer: lanPeers.deliver,
    });
    return new Mesh(libp2p, datastore, lanPeers, options);
  }

  /** Listens and serves: members can reach this node, which dials no one before `join`. */
  async start(): Promise<void> {
    await this.admission.start();
    await this.presence.start();
    await this.libp2p.start();
    await this.startDatagrams();
    this.table.setSelfAddresses(this.addresses());
    this.libp2p.addEventListener('self:peer:update', this.onSelfUpdate);
  }

  /**
   * Presence datagrams use the UDP port of our first TCP listener's number, so a member's
   * multiaddr tells where to greet it.
   */
  private async startDatagrams(): Promise<void> {
    const configured = this.options.listen.flatMap((address) => parseMultiaddr(address) ?? []);
    const host = configured.map(tcpEndpoint).find((endpoint) => endpoint !== undefined)?.host;
    const port = this.libp2p
      .getMultiaddrs()
      .map(tcpEndpoint)
      .find((endpoint) => endpoint !== undefined && endpoint.port > 0)?.port;
    if (host === undefined || port === undefined || this.options.reservedUdpPorts?.includes(port)) return;
    await this.udp.start(host, port);
  }

  /**
   * Reaches out: greets the bootstrap list by datagram and dials it, then members as they are
   * learned, and starts discovery. The daemon joins once what the others need from this node is written (its
   * ledger records), so its first sync with each member carries it: joining at once made it
   * alive to all ~0.5 s before its records reached anyone, on a loaded host.
   */
  join(): void {
    const greeted = this.greetBootstrap();
    if (greeted.size > 0) this.deferBootstrapDialWhenAnswered(greeted);
    this.lanPeers.open((peerId, addresses) => this.dialDiscovered(peerId, addresses));
    this.presence.onChange(() => this.dialer.sweepSoon());
    this.dialer.start();
    this.rendezvous?.start();
  }

  /**
   * Greets every bootstrap member by datagram; returns their peer ids. The greeting carries our
   * own fresh gossip (the records just written): they reach the mesh with our liveness.
   */
  private greetBootstrap(): Set<string> {
    const greeted = new Set<string>();
    if (!this.udp.running) return greeted;
    const greeting = [...this.greetingGossip].flatMap(([topic, provide]) => {
      const data = provide();
      return data === undefined ? [] : [{ kind: 'gossip' as const, channel: topic, data }];
    });
    for (const address of this.options.bootstrap.flatMap((text) => parseMultiaddr(text) ?? [])) {
      const peerId = peerIdOf(address);
      const endpoint = address.toString().includes('/p2p-circuit') ? undefined : tcpEndpoint(address);
      if (peerId === undefined || endpoint === undefined || endpoint.port === 0) continue;
      this.presence.greet(peerId, endpoint, greeting);
      greeted.add(peerId);
    }
    return greeted;
  }

  /**
   * A bootstrap that answers our greeting at once carries us until the connection is up: the
   * dial then waits 1-3 s, spread, so that a mass boot does not spend its first second on every
   * joiner's handshake with the same node while the election runs. Without an answer within
   * GREETING_ANSWER_MS it is dialled then.
   */
  private deferBootstrapDialWhenAnswered(greeted: Set<string>): void {
    this.dialer.deferBootstrap(this.now() + GREETING_ANSWER_MS);
    const stopWaiting = this.presence.onLinked((peerId) => {
      if (!greeted.has(peerId)) return;
      stopWaiting();
      this.dialer.deferBootstrap(this.now() + BOOTSTRAP_DIAL_SPREAD_MS * (0.5 + Math.random()));
    });
    setTimeout(stopWaiting, GREETING_ANSWER_MS).unref();
  }

  async stop(): Promise<void> {
    this.lanPeers.close();
    this.libp2p.removeEventListener('self:peer:update', this.onSelfUpdate);
    this.dialer.stop();
    await this.rendezvous?.stop();
    this.datagrams.stop();
    await this.presence.stop();
    this.udp.stop();
    await this.admission.stop();
    await this.libp2p.stop();
    // libp2p may still flush peer-store writes just after stop (NOTES-libp2p 14).
    await sleep(200);
    await this.datastore.close();
  }

  /** This node's peer id (the name transports use). */
  get selfId(): string {
    return this.peerId;
  }

  /** Full multiaddrs ending in /p2p/<id>, as others can dial them. */
  addresses(): string[] {
    return this.libp2p.getMultiaddrs().map(String);
  }

  status(): MeshStatus {
    const members = this.table.list(this.now());
    return {
      peerId: this.peerId,
      name: this.options.name,
      networkId: this.options.keys.networkId,
      fingerprint: this.options.keys.fingerprint,
      addresses: this.addresses(),
      members: members.length,
      alive: members.filter((member) => member.alive).length,
      connections: this.libp2p.getConnections().length,
      admission: this.admission.stats(),
      datagrams: { enabled: this.udp.running, ...this.udp.counters() },
    };
  }

  members(): MemberView[] {
    return this.table.list(this.now());
  }

  aliveMembers(): MemberView[] {
    return this.members().filter((member) => member.alive);
  }

  isAlive(peerId: string): boolean {
    return this.table.isAlive(peerId, this.now());
  }

  /** The admitted member through which we reach a peer: itself, or one that vouches for it. */
  connectedVia(peerId: string): string | undefined {
    if (this.admission.isAdmitted(peerId)) return peerId;
    return this.table.liveVoucher(peerId, this.now())?.peerId;
  }

  /** Adds members known from elsewhere (the ledger), so they are dialled and listed. */
  learnMember(peerId: string, name: string, addresses: string[]): void {
    if (peerId === this.peerId) return;
    if (this.table.learn(peerId, name, addresses)) this.dialer.sweepSoon();
  }

  /** Called when this node's own addresses change (a new listener, a relay reservation). */
  onAddressesChanged(listener: () => void): () => void {
    this.libp2p.addEventListener('self:peer:update', listener);
    return () => this.libp2p.removeEventListener('self:peer:update', listener);
  }

  onMembersChanged(listener: () => void): () => void {
    return this.presence.onChange(listener);
  }

  isAdmitted(peerId: string): boolean {
    return this.admission.isAdmitted(peerId);
  }

  admittedPeers(): string[] {
    return this.admission.admittedPeers();
  }

  onPeerAdmitted(listener: (peerId: string) => void): () => void {
    return this.admission.onAdmitted(listener);
  }

  /**
   * IP addresses (no ports) this node is reachable at: its listening interfaces and the
   * addresses peers observed (identify) once libp2p confirmed them.
   */
  ipAddresses(): string[] {
    const ips = this.libp2p
      .getMultiaddrs()
      .filter((address) => !address.toString().includes('/p2p-circuit'))
      .map(
        (address) =>
          address.getComponents().find((component) => component.name === 'ip4' || component.name === 'ip6')
            ?.value,
      )
      .filter((ip): ip is string => ip !== undefined);
    return [...new Set(ips)];
  }

  /**
   * Gossip on a topic. `from` is the admitted member that handed us the message; a message an
   * unadmitted peer forwards is rejected (and not forwarded), so every hop is a member. Messages
   * are unsigned: what they carry must prove its author itself (ledger entries do).
   */
  subscribe(topic: string, onMessage: (from: string, data: Uint8Array) => void): () => void {
    const pubsub = this.libp2p.services.pubsub;
    pubsub.topicValidators.set(topic, (propagationSource: PeerId) =>
      this.admission.isAdmitted(propagationSource.toString())
        ? TopicValidatorResult.Accept
        : TopicValidatorResult.Reject,
    );
    const listener = (event: CustomEvent<GossipsubMessage>): void => {
      const { propagationSource, msg } = event.detail;
      if (msg.topic !== topic) return;
      onMessage(propagationSource.toString(), msg.data);
      this.datagrams.passOn(topic, msg.data);
    };
    pubsub.addEventListener('gossipsub:message', listener);
    pubsub.subscribe(topic);
    const unsubscribeDatagrams = this.datagrams.subscribe(topic, onMessage);
    return () => {
      unsubscribeDatagrams();
      pubsub.removeEventListener('gossipsub:message', listener);
      pubsub.unsubscribe(topic);
      pubsub.topicValidators.delete(topic);
    };
  }

  /** Resolves with how many peers the message went to (by gossipsub, and by datagram). */
  async publish(topic: string, data: Uint8Array): Promise<number> {
    const byDatagram = this.datagrams.publish(topic, data);
    return (await this.libp2p.services.pubsub.publish(topic, data)).recipients.length + byDatagram;
  }

  /**
   * A query that fits one datagram, to a member reached by presence datagram (before, or for
   * a heartbeat after, its connection is up): cheaper than opening a stream. Undefined when it
   * is not reached that way, or no answer came in time.
   */
  async queryByDatagram(
    peerId: string,
    protocol: string,
    request: Uint8Array,
    timeoutMs: number,
  ): Promise<Uint8Array | undefined> {
    return this.datagrams.query(peerId, protocol, request, timeoutMs);
  }

  /** Answers queries by datagram (members that proved the token in the datagram itself). */
  handleDatagramQuery(protocol: string, handler: QueryHandler): void {
    this.datagrams.handleQuery(protocol, handler);
  }

  /** Gossip on `topic` that goes with our greeting at join (see `join`): called then. */
  greetWith(topic: string, provide: () => Uint8Array | undefined): void {
    this.greetingGossip.set(topic, provide);
  }

  /** Fires when a member is first heard by datagram while not connected. */
  onPeerLinked(listener: (peerId: string) => void): () => void {
    return this.presence.onLinked(listener);
  }

  /** Serves a protocol to admitted members only. */
  async handle(
    protocol: string,
    handler: (stream: Stream, peerId: string) => void | Promise<void>,
  ): Promise<void> {
    const gated: StreamHandler = (stream, connection) => {
      const peerId = connection.remotePeer.toString();
      if (!this.admission.isAdmitted(peerId)) {
        stream.abort(new Error('not admitted'));
        return;
      }
      return handler(stream, peerId);
    };
    await this.libp2p.handle(protocol, gated, { runOnLimitedConnection: true, maxInboundStreams: 64 });
  }

  async unhandle(protocol: string): Promise<void> {
    await this.libp2p.unhandle(protocol);
  }

  /**
   * A stream to a member, connecting first when we have no connection (a member alive only
   * second-hand, see dial-policy.ts): through the addresses it told the mesh, which libp2p's
   * peer store may not hold, and only once it is admitted, since members serve nothing before.
   */
  async dialProtocol(peerId: string, protocol: string, signal?: AbortSignal): Promise<Stream> {
    if (!this.admission.isAdmitted(peerId)) {
      const admitted = this.admission.waitFor(peerId, CONNECT_TIMEOUT_MS);
      await this.libp2p.dial(dialTarget(peerId, this.table.get(peerId)?.addresses ?? []), {
        signal: signal ?? AbortSignal.timeout(CONNECT_TIMEOUT_MS),
      });
      if (!(await admitted)) throw new Error(`${peerId} was not admitted`);
    }
    return this.libp2p.dialProtocol(peerIdFromString(peerId), protocol, {
      runOnLimitedConnection: true,
      ...(signal === undefined ? {} : { signal }),
    });
  }

  private readonly onSelfUpdate = (): void => {
    this.table.setSelfAddresses(this.addresses());
    this.presence.announceSelf();
  };

  private dialDiscovered(peerId: string, addresses: string[]): void {
    this.dialer.dialDiscovered(
      peerId,
      addresses.flatMap((address) => parseMultiaddr(address) ?? []),
    );
  }
}
