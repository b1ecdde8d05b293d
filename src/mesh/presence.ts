import type { Connection, Libp2p, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils';
import type { Logger } from 'pino';
import { describeError } from '../shared/errors.ts';
import { sameList } from '../shared/same-list.ts';
import type { Admission } from './admission.ts';
import type { MemberTable } from './member-table.ts';
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

  constructor(libp2p: Libp2p, admission: Admission, table: MemberTable, options: PresenceOptions) {
    this.libp2p = libp2p;
    this.admission = admission;
    this.table = table;
    this.options = options;
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
    const now = this.options.now();
    const members: PresenceMember[] = this.table
      .others()
      .filter((member) => member.peerId !== peerId)
      .map((member) => ({
        id: member.peerId,
        name: member.name,
        addrs: member.addresses,
        alive: this.vouchesFor(member.peerId, now),
      }));
    this.send(
      peerId,
      session,
      encodeFrame({ t: 'hello', name: this.options.selfName, addrs: this.selfAddresses(), members }),
    );
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
    this.emitIfChanged(false);
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
        if (frame !== undefined) this.apply(peerId, frame);
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
    this.emitIfChanged(true);
  }

  /**
   * Our own addresses changed (a new relay reservation behind NAT, a new interface): tell
   * every member, since a hello went out only once.
   */
  announceSelf(): void {
    const frame = encodeFrame({
      t: 'member',
      member: { id: this.libp2p.peerId.toString(), name: this.options.selfName, addrs: this.selfAddresses() },
    });
    for (const [peerId, session] of this.sessions) this.send(peerId, session, frame);
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
      let frame: Uint8Array;
      if (this.vouchesFor(id, now)) {
        if (told !== undefined && told.name === member.name && sameList(told.addresses, member.addresses)) {
          continue;
        }
        this.vouched.set(id, { name: member.name, addresses: member.addresses });
        frame = encodeFrame({ t: 'member', member: { id, name: member.name, addrs: member.addresses } });
      } else {
        if (told === undefined) continue;
        this.vouched.delete(id);
        frame = encodeFrame({ t: 'gone', id });
      }
      for (const [peerId, session] of this.sessions) if (peerId !== id) this.send(peerId, session, frame);
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
