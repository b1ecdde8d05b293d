import type { Connection, Libp2p, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils';
import type { Logger } from 'pino';
import { describeError } from '../shared/errors.ts';
import type { Admission } from './admission.ts';
import type { MemberTable } from './member-table.ts';
import {
  decodeFrame,
  encodeFrame,
  KEEPALIVE,
  type PresenceFrame,
  type PresenceMember,
} from './presence-frames.ts';

export const PRESENCE_PROTOCOL = '/kairos-mesh/presence/1.0.0';
const ADMISSION_WAIT_MS = 10_000;

export interface PresenceOptions {
  heartbeatMs: number;
  log: Logger;
  now: () => number;
  selfName: string;
}

/** Our outbound stream to one member: writes are queued so frames never interleave. */
interface Session {
  framed: Promise<LengthPrefixedStream<Stream>>;
  queue: Promise<void>;
  broken: boolean;
}

/**
 * Liveness and peer exchange over one long-lived stream per admitted peer and direction:
 * a hello with what we know, an announcement when another member says hello to us, and a
 * tiny keepalive every heartbeat. Nothing here is written to disk.
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
    const session: Session = { framed, queue: Promise.resolve(), broken: false };
    framed.catch(() => (session.broken = true));
    this.sessions.set(peerId, session);
    const members: PresenceMember[] = this.table
      .others()
      .filter((member) => member.peerId !== peerId && member.addresses.length > 0)
      .map((member) => ({ id: member.peerId, name: member.name, addrs: member.addresses }));
    this.send(
      peerId,
      session,
      encodeFrame({ t: 'hello', name: this.options.selfName, addrs: this.selfAddresses(), members }),
    );
  }

  private send(peerId: string, session: Session, bytes: Uint8Array): void {
    session.queue = session.queue.then(async () => {
      if (session.broken) return;
      try {
        await (
          await session.framed
        ).write(bytes, { signal: AbortSignal.timeout(this.options.heartbeatMs * 5) });
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
    if (!(await this.waitForAdmission(peerId))) {
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
      for (const member of frame.members) this.learnIndirect(member);
      this.announce(from, { id: from, name: frame.name, addrs: frame.addrs });
    } else if (frame.member.id === from) {
      // The member speaks of itself (its addresses changed): first-hand, so it wins, and the
      // others hear it too, as they heard its hello.
      this.table.learn(from, frame.member.name, frame.member.addrs);
      this.announce(from, frame.member);
    } else {
      this.learnIndirect(frame.member);
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

  /** Tells every other member about a peer that just said hello to us. */
  private announce(subject: string, member: PresenceMember): void {
    const frame = encodeFrame({ t: 'member', member });
    for (const [peerId, session] of this.sessions) if (peerId !== subject) this.send(peerId, session, frame);
  }

  private waitForAdmission(peerId: string): Promise<boolean> {
    if (this.admission.isAdmitted(peerId)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(false), ADMISSION_WAIT_MS);
      const unsubscribe = this.admission.onAdmitted((admitted) => {
        if (admitted === peerId) finish(true);
      });
      function finish(admitted: boolean): void {
        clearTimeout(timer);
        unsubscribe();
        resolve(admitted);
      }
    });
  }

  /** Notifies listeners when the set of members or of alive members changed. */
  private emitIfChanged(force: boolean): void {
    const now = this.options.now();
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
