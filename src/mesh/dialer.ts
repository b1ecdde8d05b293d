import type { Libp2p, PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import type { Multiaddr } from '@multiformats/multiaddr';
import type { Logger } from 'pino';
import { backoffDelay } from '../shared/backoff.ts';
import { describeError } from '../shared/errors.ts';
import { dialIsDue, type DialTiming } from './dial-policy.ts';
import type { MemberTable } from './member-table.ts';
import { dialTarget, parseMultiaddr } from './parse-multiaddr.ts';

export interface DialerOptions {
  bootstrap: string[];
  log: Logger;
  now: () => number;
  /** How often the dialer looks for members to (re)dial. */
  intervalMs: number;
  maxBackoffMs: number;
  /** In [0, 1): spreads the fill-in dials (see dial-policy.ts). */
  random: () => number;
  timing: DialTiming;
}

const SWEEP_COALESCE_MS = 20;

interface Attempt {
  failures: number;
  nextAt: number;
  inFlight: boolean;
}

/** What the dialer remembers of a member it is not connected to. */
interface Unconnected {
  knownSince: number;
  aliveSecondHandSince: number | undefined;
  spread: number;
}

/**
 * Keeps us connected: dials every known member that is not connected when dial-policy.ts says
 * so, and the bootstrap addresses while we have no member, each with its own exponential
 * backoff. Members alive second-hand are dialled one at a time: filling in the mesh is
 * background work.
 */
export class Dialer {
  private readonly attempts = new Map<string, Attempt>();
  private readonly unconnected = new Map<string, Unconnected>();
  private fillInInFlight = false;
  private readonly libp2p: Libp2p;
  private readonly table: MemberTable;
  private readonly options: DialerOptions;
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  /** The bootstrap list is not dialled before this (see deferBootstrap). */
  private bootstrapNotBefore = 0;

  constructor(libp2p: Libp2p, table: MemberTable, options: DialerOptions) {
    this.libp2p = libp2p;
    this.table = table;
    this.options = options;
  }

  start(): void {
    this.timer = setInterval(() => this.sweep(), this.options.intervalMs);
    this.sweep();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.soon !== undefined) clearTimeout(this.soon);
  }

  /** Dials the bootstrap list no earlier than `atMs` (a sweep then runs). */
  deferBootstrap(atMs: number): void {
    this.bootstrapNotBefore = atMs;
    setTimeout(() => this.sweepSoon(), Math.max(0, atMs - this.options.now())).unref();
  }

  /**
   * Sweeps shortly (members were just learned). A node joining a big mesh learns dozens of
   * members in a burst; one sweep covers them all.
   */
  sweepSoon(): void {
    if (this.soon !== undefined) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.sweep();
    }, SWEEP_COALESCE_MS);
  }

  /** Dials every member that needs it now. */
  sweep(): void {
    const connected = new Set(
      this.libp2p.getConnections().map((connection) => connection.remotePeer.toString()),
    );
    const now = this.options.now();
    for (const member of this.table.others()) {
      if (connected.has(member.peerId)) {
        this.attempts.delete(member.peerId);
        this.unconnected.delete(member.peerId);
        continue;
      }
      const state = this.track(member.peerId, now);
      if (!dialIsDue({ selfId: this.selfId, peerId: member.peerId, ...state }, now, this.options.timing))
        continue;
      const fillIn = state.aliveSecondHandSince !== undefined;
      if (fillIn && this.fillInInFlight) continue;
      const started = this.tryDial(member.peerId, dialTarget(member.peerId, member.addresses));
      if (fillIn && started !== undefined) {
        this.fillInInFlight = true;
        void started.finally(() => {
          this.fillInInFlight = false;
          this.sweepSoon();
        });
      }
    }
    if (
      now >= this.bootstrapNotBefore &&
      this.table.others().every((member) => !connected.has(member.peerId))
    ) {
      for (const address of this.options.bootstrap) {
        const parsed = parseMultiaddr(address);
        if (
          parsed !== undefined &&
          !connected.has(parsed.getComponents().find((c) => c.name === 'p2p')?.value ?? '')
        ) {
          void this.tryDial(`bootstrap:${address}`, [parsed]);
        }
      }
    }
  }

  /**
   * A peer found by mDNS or rendezvous: dialled at once (the other side may not know of us,
   * so no yield), through the same per-peer attempt as the sweep so that one peer is never
   * dialled twice at the same time. Admission then decides whether it is one of us. A member
   * already alive to us second-hand is left to the fill-in (at a mass boot every node finds
   * every other on the LAN or the DHT).
   */
  dialDiscovered(peerId: string, addresses: Multiaddr[]): void {
    if (peerId === this.libp2p.peerId.toString()) return;
    if (this.libp2p.getConnections(peerIdFromString(peerId)).length > 0) return;
    if (this.table.isAlive(peerId, this.options.now())) return;
    // Direct addresses only, each naming the peer (libp2p refuses a mix of ids in one dial;
    // relayed addresses carry the relay's id too, and the relay path is found by peer id).
    const withId = addresses.flatMap((address) => {
      const components = address.getComponents();
      if (components.some((component) => component.name === 'p2p-circuit')) return [];
      const named = components.find((component) => component.name === 'p2p')?.value;
      if (named === undefined) return [address.encapsulate(`/p2p/${peerId}`)];
      return named === peerId ? [address] : [];
    });
    void this.tryDial(peerId, withId.length > 0 ? withId : peerIdFromString(peerId));
  }

  private get selfId(): string {
    return this.libp2p.peerId.toString();
  }

  /** Notes when we first knew of an unconnected member and since when it is alive second-hand. */
  private track(peerId: string, now: number): Unconnected {
    const state = this.unconnected.get(peerId) ?? {
      knownSince: now,
      aliveSecondHandSince: undefined,
      spread: this.options.random(),
    };
    this.unconnected.set(peerId, state);
    if (!this.table.isAlive(peerId, now)) state.aliveSecondHandSince = undefined;
    else state.aliveSecondHandSince ??= now;
    return state;
  }

  /** Starts a dial unless one is in flight or backing off; returns it when started. */
  private tryDial(key: string, target: Multiaddr[] | PeerId): Promise<void> | undefined {
    const now = this.options.now();
    const attempt = this.attempts.get(key) ?? { failures: 0, nextAt: 0, inFlight: false };
    this.attempts.set(key, attempt);
    if (attempt.inFlight || attempt.nextAt > now) return undefined;
    attempt.inFlight = true;
    return this.libp2p
      .dial(target, { signal: AbortSignal.timeout(10_000) })
      .then(() => {
        attempt.failures = 0;
        attempt.nextAt = 0;
      })
      .catch((error: unknown) => {
        attempt.failures += 1;
        attempt.nextAt = this.options.now() + backoffDelay(attempt.failures, 500, this.options.maxBackoffMs);
        this.options.log.debug({ target: key, err: describeError(error) }, 'dial failed');
      })
      .finally(() => {
        attempt.inFlight = false;
      });
  }
}
