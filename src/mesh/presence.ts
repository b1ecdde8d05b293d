import type { Connection, Libp2p, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils';
import type { Logger } from 'pino';
import { describeError } from '../shared/errors.ts';
import { sameList } from '../shared/same-list.ts';
import type { Admission } from './admission.ts';
import type { MemberTable } from './member-table.ts';
import { DatagramLinks } from './datagram-links.ts';
import type { DatagramContent, DatagramMessage } from './presence-datagram.ts';
import type { Endpoint, PresenceUdp } from './presence-udp.ts';
import {
  decodeFrame,
  encodeFrame,
  KEEPALIVE,
  type PresenceFrame,
  type PresenceMember,
} from './presence-frames.ts';

export const PRESENCE_PROTOCOL = '/kairos-mesh/presence/2.0.0';
const ADMISSION_WAIT_MS = 10_000;

export interface PresenceOptions {
  heartbeatMs: number;
  log: Logger;
  now: () => number;
  selfName: string;
}

/**
 * Our outbound stream to one member: writes are queued so frames never interleave, and the
 * frames queued while a write is under way go out together in the next (a burst of joins
 * would otherwise cost a write, an encryption and a syscall per frame).
 */
interface Session {
  framed: Promise<LengthPrefixedStream<Stream>>;
  queue: Promise<void>;
  pending: Uint8Array[];
  broken: boolean;
}

/**
 * Liveness and peer exchange over one long-lived stream per admitted peer and direction:
 * a hello with what we know, a tiny keepalive every heartbeat, and a word to every member
 * whenever another member becomes alive to us first-hand (once it introduced itself with its
 * hello) or stops being so: the others count that as a vouch (see MemberTable). Nothing here is
 * written to disk.
 *
 * The same frames also travel in UDP datagrams (presence-udp.ts) to and from a member whose
 * libp2p connection is not up yet: a joiner greets its bootstrap with a hello datagram the moment
 * it joins, and is alive to the whole mesh one datagram later instead of after a TCP connection,
 * a Noise handshake, admission and a stream (on a loaded host, seconds). A member heard by
 * datagram is alive for a TTL after the last one; once our stream reaches it, datagrams to it
 * stop a heartbeat later (datagram-links.ts).
 */
export class Presence {
  private readonly sessions = new Map<string, Session>();
  private readonly changeListeners = new Set<() => void>();
  private readonly libp2p: Libp2p;
  private readonly admission: Admission;
  private readonly table: MemberTable;
  private readonly options: PresenceOptions;
  private ticker: NodeJS.Timeout | undefined;
  private lastAlive = '';
  /** Members that said hello to us on their current connection. */
  private readonly introduced = new Set<string>();
  /** What we last told the others of each member we vouch for: its name and addresses. */
  private readonly vouched = new Map<string, { name: string; addresses: string[] }>();
  private readonly unsubscribe: Array<() => void> = [];
  private readonly links: DatagramLinks;
  private messageListener: (from: string, message: DatagramMessage) => void = () => undefined;

  constructor(
    libp2p: Libp2p,
    admission: Admission,
    table: MemberTable,
    options: PresenceOptions,
    udp?: PresenceUdp,
  ) {
    this.libp2p = libp2p;
    this.admission = admission;
    this.table = table;
    this.options = options;
    this.links = new DatagramLinks(udp, options.now);
    udp?.onReceive((content, endpoint) => this.receiveDatagram(content, endpoint));
  }

  async start(): Promise<void> {
    await this.libp2p.handle(
      PRESENCE_PROTOCOL,
      (stream, connection) => void this.receive(stream, connection),
      {
        runOnLimitedConnection: true,
      },
    );
    this.unsubscribe.push(
      this.admission.onAdmitted((peerId) => this.onAdmitted(peerId)),
      this.admission.onLost((peerId) => this.onLost(peerId)),
    );
    this.ticker = setInterval(() => this.tick(), this.options.heartbeatMs);
  }

  async stop(): Promise<void> {
    if (this.ticker !== undefined) clearInterval(this.ticker);
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    for (const session of this.sessions.values()) session.broken = true;
    this.sessions.clear();
    this.links.clear();
    await this.libp2p.unhandle(PRESENCE_PROTOCOL);
  }

  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  private selfAddresses(): string[] {
    return this.libp2p.getMultiaddrs().map(String);
  }

  private onAdmitted(peerId: string): void {
    this.table.learn(peerId, undefined, undefined);
    this.table.setConnected(peerId, true, this.options.now());
    this.openSession(peerId);
    this.emitIfChanged(true);
  }

  private onLost(peerId: string): void {
    this.table.setConnected(peerId, false, this.options.now());
    this.table.forgetVoucher(peerId);
    this.introduced.delete(peerId);
    const session = this.sessions.get(peerId);
    if (session !== undefined) session.broken = true;
    this.sessions.delete(peerId);
    this.emitIfChanged(false);
  }

  private openSession(peerId: string): void {
    if (this.sessions.has(peerId)) return;
    const framed = this.libp2p
      .dialProtocol(peerIdFromString(peerId), PRESENCE_PROTOCOL, {
        runOnLimitedConnection: true,
        signal: AbortSignal.timeout(ADMISSION_WAIT_MS),
      })
      .then((stream) => lpStream(stream));
    const session: Session = { framed, queue: Promise.resolve(), pending: [], broken: false };
    framed.catch(() => (session.broken = true));
    this.sessions.set(peerId, session);
    this.send(peerId, session, encodeFrame(this.hello(peerId)));
  }

  /** Our hello to one member: who we are, and every member we know, marked when we vouch. */
  private hello(to: string): PresenceFrame {
    const now = this.options.now();
    const members: PresenceMember[] = this.table
      .others()
      .filter((member) => member.peerId !== to)
      .map((member) => ({
        id: member.peerId,
        name: member.name,
        addrs: member.addresses,
        alive: this.vouchesFor(member.peerId, now),
      }));
    return { t: 'hello', name: this.options.selfName, addrs: this.selfAddresses(), members };
  }

  /**
   * Greets a member by datagram (our bootstrap, at join), until it answers or a stream is up;
   * `messages` go along in the same datagram.
   */
  greet(peerId: string, endpoint: Endpoint, messages: DatagramMessage[] = []): void {
    if (!this.links.usable || this.sessions.has(peerId) || peerId === this.libp2p.peerId.toString()) return;
    this.links.greet(peerId, endpoint, this.hello(peerId), messages);
  }

  private receiveDatagram(content: DatagramContent, endpoint: Endpoint): void {
    const from = content.from;
    if (from === this.libp2p.peerId.toString()) return;
    const linked = this.links.heard(from, endpoint);
    this.table.learn(from, undefined, undefined);
    this.table.heardDatagram(from, this.options.now());
    for (const frame of content.frames) this.apply(from, frame);
    if (content.wantsHello && !this.sessions.has(from)) this.links.sendFrame(from, this.hello(from));
    this.emitIfChanged(true);
    if (linked) this.links.announce(from);
    for (const message of content.messages) this.messageListener(from, message);
  }

  /** Members we reach by datagram (most before any stream of ours reaches them). */
  linkedPeers(): string[] {
    return this.links.peers();
  }

  hasLinks(): boolean {
    return this.links.size > 0;
  }

  /** Sends to a member reached by datagram; false when it is not (use the streams). */
  sendMessage(peerId: string, message: DatagramMessage): boolean {
    return this.links.sendMessage(peerId, message);
  }

  onDatagramMessage(listener: (from: string, message: DatagramMessage) => void): void {
    this.messageListener = listener;
  }

  /** Fires when a member is first heard by datagram (a greeted one: when it answers). */
  onLinked(listener: (peerId: string) => void): () => void {
    return this.links.onLinked(listener);
  }

  /** Sends a frame to every member we reach, by stream or else by datagram, but `about` itself. */
  private broadcast(frame: PresenceFrame, about: string | undefined): void {
    const bytes = encodeFrame(frame);
    for (const [peerId, session] of this.sessions) if (peerId !== about) this.send(peerId, session, bytes);
    for (const peerId of this.links.peers()) {
      if (peerId !== about && !this.sessions.has(peerId)) this.links.sendFrame(peerId, frame);
    }
  }

  private send(peerId: string, session: Session, bytes: Uint8Array): void {
    session.pending.push(bytes);
    if (session.pending.length > 1) return; // a write is already queued and will take it
    session.queue = session.queue.then(async () => {
      const frames = session.pending.splice(0);
      if (session.broken) return;
      try {
        await (
          await session.framed
        ).writeV(frames, { signal: AbortSignal.timeout(this.options.heartbeatMs * 5) });
      } catch (error) {
        session.broken = true;
        this.options.log.debug({ peer: peerId, err: describeError(error) }, 'presence stream broke');
      }
    });
  }

  private tick(): void {
    for (const [peerId, session] of this.sessions) {
      if (session.broken) {
        this.sessions.delete(peerId);
        if (this.admission.isAdmitted(peerId)) this.openSession(peerId);
        continue;
      }
      this.send(peerId, session, KEEPALIVE);
    }
    this.tickLinks();
    this.emitIfChanged(false);
  }

  private tickLinks(): void {
    this.links.tick({
      hasStream: (peerId) => this.sessions.has(peerId),
      isAdmitted: (peerId) => this.admission.isAdmitted(peerId),
      isAliveFirstHand: (peerId, now) => this.table.isAliveFirstHand(peerId, now),
      introduced: (peerId) => this.introduced.has(peerId),
      hello: (to) => this.hello(to),
    });
  }

  private async receive(stream: Stream, connection: Connection): Promise<void> {
    const peerId = connection.remotePeer.toString();
    if (!(await this.admission.waitFor(peerId, ADMISSION_WAIT_MS))) {
      stream.abort(new Error('not admitted'));
      return;
    }
    const framed = lpStream(stream);
    try {
      for (;;) {
        const frame = decodeFrame((await framed.read()).subarray());
        this.table.heard(peerId, this.options.now());
        if (frame !== undefined) {
          this.apply(peerId, frame);
          this.emitIfChanged(true);
        }
      }
    } catch (error) {
      this.options.log.debug({ peer: peerId, err: describeError(error) }, 'presence stream ended');
      stream.abort(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private apply(from: string, frame: PresenceFrame): void {
    if (frame.t === 'hello') {
      this.table.learn(from, frame.name, frame.addrs);
      this.introduced.add(from);
      for (const member of frame.members) this.learnIndirect(member);
      this.table.replaceVouches(
        from,
        frame.members.filter((member) => member.alive === true).map((member) => member.id),
      );
    } else if (frame.t === 'gone') {
      this.table.vouch(from, frame.id, false);
    } else if (frame.member.id === from) {
      // The member speaks of itself (its addresses changed): first-hand, so it wins; the
      // others hear of the change from our vouch.
      this.table.learn(from, frame.member.name, frame.member.addrs);
    } else {
      this.learnIndirect(frame.member);
      this.table.vouch(from, frame.member.id, frame.member.alive ?? true);
    }
  }

  /**
   * Our own addresses changed (a new relay reservation behind NAT, a new interface): tell
   * every member, since a hello went out only once.
   */
  announceSelf(): void {
    this.broadcast(
      {
        t: 'member',
        member: {
          id: this.libp2p.peerId.toString(),
          name: this.options.selfName,
          addrs: this.selfAddresses(),
        },
      },
      undefined,
    );
  }

  private learnIndirect(member: PresenceMember): void {
    if (member.id === this.libp2p.peerId.toString()) return;
    // What a member says about a third peer never replaces what that peer said itself; new
    // addresses (a relay reservation made later) are added.
    const known = this.table.get(member.id);
    const addresses =
      known === undefined ? member.addrs : [...new Set([...known.addresses, ...member.addrs])];
    this.table.learn(
      member.id,
      known?.name === undefined || known.name === '' ? member.name : undefined,
      addresses,
    );
  }

  private vouchesFor(peerId: string, now: number): boolean {
    return this.introduced.has(peerId) && this.table.isAliveFirstHand(peerId, now);
  }

  /**
   * Tells every other member what changed in whom we vouch for: a member that became alive to
   * us first-hand (or changed its addresses), or one that no longer is.
   */
  private spreadVouches(now: number): void {
    for (const member of this.table.others()) {
      const id = member.peerId;
      const told = this.vouched.get(id);
      if (this.vouchesFor(id, now)) {
        if (told !== undefined && told.name === member.name && sameList(told.addresses, member.addresses)) {
          continue;
        }
        this.vouched.set(id, { name: member.name, addresses: member.addresses });
        this.broadcast({ t: 'member', member: { id, name: member.name, addrs: member.addresses } }, id);
      } else {
        if (told === undefined) continue;
        this.vouched.delete(id);
        this.broadcast({ t: 'gone', id }, id);
      }
    }
  }

  /** Spreads our vouches, and notifies listeners when the set of (alive) members changed. */
  private emitIfChanged(force: boolean): void {
    const now = this.options.now();
    this.spreadVouches(now);
    const signature = this.table
      .list(now)
      .map((member) => `${member.peerId}:${member.alive ? 1 : 0}`)
      .join(',');
    if (!force && signature === this.lastAlive) return;
    const changed = signature !== this.lastAlive;
    this.lastAlive = signature;
    if (changed || force) for (const listener of this.changeListeners) listener();
  }
}
