import type { DatagramMessage } from './presence-datagram.ts';
import type { PresenceFrame } from './presence-frames.ts';
import type { Endpoint, PresenceUdp } from './presence-udp.ts';

/** How long a greeting (a hello datagram asking for one back) is repeated unanswered. */
const GREET_MS = 30_000;

/**
 * A member we exchange presence datagrams with: one we greeted (our bootstrap), or one that
 * sent us a datagram, mostly while no stream of ours reaches it yet.
 */
interface DatagramLink {
  endpoint: Endpoint;
  /** Still greeting: we have not heard it yet, and repeat our hello until then. */
  greetingUntil: number | undefined;
  /** What goes with each greeting hello (our own fresh ledger entries, see Mesh.join). */
  greeting?: DatagramMessage[];
  /** When a tick first found our stream to it open (the link then lasts one more heartbeat). */
  streamSeenAt?: number;
}

/** What the links need to know of presence at each heartbeat. */
export interface LinkView {
  hasStream(peerId: string): boolean;
  isAdmitted(peerId: string): boolean;
  isAliveFirstHand(peerId: string, nowMs: number): boolean;
  /** It sent us its hello (else a keepalive asks for it again). */
  introduced(peerId: string): boolean;
  hello(to: string): PresenceFrame;
}

/** The members presence reaches by UDP datagram (see presence.ts), and their upkeep. */
export class DatagramLinks {
  private readonly links = new Map<string, DatagramLink>();
  private readonly linkListeners = new Set<(peerId: string) => void>();
  private readonly udp: PresenceUdp | undefined;
  private readonly now: () => number;

  constructor(udp: PresenceUdp | undefined, now: () => number) {
    this.udp = udp;
    this.now = now;
  }

  get usable(): boolean {
    return this.udp?.running === true;
  }

  /** Greets a member, until it answers; `messages` go along in the same datagram. */
  greet(peerId: string, endpoint: Endpoint, hello: PresenceFrame, messages: DatagramMessage[]): void {
    const link = { endpoint, greetingUntil: this.now() + GREET_MS, greeting: messages };
    this.links.set(peerId, link);
    this.sendGreeting(link, hello);
  }

  /**
   * A datagram came from the member at `endpoint`. True for the first (or a greeted member's
   * answer): the caller then calls `announce` once it has taken the datagram in.
   */
  heard(peerId: string, endpoint: Endpoint): boolean {
    const known = this.links.get(peerId);
    this.links.set(peerId, { endpoint, greetingUntil: undefined });
    return known === undefined || known.greetingUntil !== undefined;
  }

  /** Tells the `onLinked` listeners of a newly linked member. */
  announce(peerId: string): void {
    for (const listener of this.linkListeners) listener(peerId);
  }

  onLinked(listener: (peerId: string) => void): () => void {
    this.linkListeners.add(listener);
    return () => this.linkListeners.delete(listener);
  }

  peers(): string[] {
    return [...this.links.keys()];
  }

  get size(): number {
    return this.links.size;
  }

  sendFrame(peerId: string, frame: PresenceFrame): void {
    const link = this.links.get(peerId);
    if (link !== undefined) this.udp?.send(link.endpoint, frame);
  }

  /** False when the member is not linked (the streams carry it). */
  sendMessage(peerId: string, message: DatagramMessage): boolean {
    const link = this.links.get(peerId);
    if (link === undefined || this.udp === undefined) return false;
    this.udp.sendMessage(link.endpoint, message);
    return true;
  }

  clear(): void {
    this.links.clear();
  }

  /**
   * At each heartbeat: greets again whoever has not answered, keeps the others' datagram
   * liveness, drops the silent. A link outlives our stream to the member by a heartbeat: until
   * gossipsub grafts a new peer into its forwarding mesh (its next heartbeat), gossip still
   * reaches it by datagram.
   */
  tick(view: LinkView): void {
    const now = this.now();
    for (const [peerId, link] of this.links) {
      if (view.hasStream(peerId)) {
        if (link.greetingUntil !== undefined || link.streamSeenAt !== undefined) this.links.delete(peerId);
        else link.streamSeenAt = now;
      } else if (link.greetingUntil !== undefined) {
        if (now > link.greetingUntil) this.links.delete(peerId);
        else this.sendGreeting(link, view.hello(peerId));
      } else if (view.isAdmitted(peerId) || !view.isAliveFirstHand(peerId, now)) {
        this.links.delete(peerId);
      } else {
        // A keepalive, asking again for the hello if it was lost.
        this.udp?.send(link.endpoint, undefined, !view.introduced(peerId));
      }
    }
  }

  private sendGreeting(link: DatagramLink, hello: PresenceFrame): void {
    this.udp?.send(link.endpoint, hello, true);
    for (const message of link.greeting ?? []) this.udp?.sendMessage(link.endpoint, message);
  }
}
