import { createHash } from 'node:crypto';
import type { DatagramMessage } from './presence-datagram.ts';
import type { Presence } from './presence.ts';

/** How long a gossip message is remembered, so it is delivered and passed on once. */
const SEEN_MS = 120_000;

export type QueryHandler = (peerId: string, request: Uint8Array) => Promise<Uint8Array>;

interface PendingQuery {
  peerId: string;
  resolve: (answer: Uint8Array | undefined) => void;
}

/**
 * Gossip and small queries to the members presence reaches by datagram ("linked": before their
 * libp2p connection is up, and for a heartbeat after; see presence.ts): a joiner's records and
 * votes then travel as fast as its liveness. Gossip is flooded: each node delivers and passes on
 * a message once, to its linked members and into gossipsub, which carries it on to the
 * connected ones.
 */
export class DatagramMessaging {
  private readonly presence: Presence;
  /** Passes a message on into gossipsub (a duplicate there is ignored). */
  private readonly republish: (topic: string, data: Uint8Array) => void;
  private readonly topics = new Map<string, (from: string, data: Uint8Array) => void>();
  private readonly queryHandlers = new Map<string, QueryHandler>();
  private readonly pending = new Map<number, PendingQuery>();
  private readonly seen = new Map<string, number>();
  private lastSweep = 0;
  private nextQueryId = 1;
  private readonly now: () => number;

  constructor(presence: Presence, republish: (topic: string, data: Uint8Array) => void, now: () => number) {
    this.presence = presence;
    this.republish = republish;
    this.now = now;
    presence.onDatagramMessage((from, message) => this.receive(from, message));
  }

  subscribe(topic: string, handler: (from: string, data: Uint8Array) => void): () => void {
    this.topics.set(topic, handler);
    return () => this.topics.delete(topic);
  }

  /** Our own gossip: to every linked member. Returns how many it went to. */
  publish(topic: string, data: Uint8Array): number {
    // With no linked member (a settled mesh) nothing is remembered: a message that
    // still comes back by datagram later is merely delivered twice (the ledger ignores it).
    if (!this.presence.hasLinks()) return 0;
    this.firstSight(topic, data);
    return this.spread(topic, data, undefined);
  }

  /** Gossip that came through gossipsub: on to the linked members, once. */
  passOn(topic: string, data: Uint8Array): void {
    if (this.presence.hasLinks() && this.firstSight(topic, data)) this.spread(topic, data, undefined);
  }

  handleQuery(protocol: string, handler: QueryHandler): void {
    this.queryHandlers.set(protocol, handler);
  }

  /** Asks a linked member; undefined when it is not one, or no answer came in time. */
  query(
    peerId: string,
    protocol: string,
    request: Uint8Array,
    timeoutMs: number,
  ): Promise<Uint8Array | undefined> {
    const id = this.nextQueryId++;
    if (!this.presence.sendMessage(peerId, { kind: 'query', channel: protocol, id, data: request })) {
      return Promise.resolve(undefined);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      const finish = (answer: Uint8Array | undefined): void => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(answer);
      };
      this.pending.set(id, { peerId, resolve: finish });
    });
  }

  stop(): void {
    for (const query of [...this.pending.values()]) query.resolve(undefined);
    this.topics.clear();
    this.queryHandlers.clear();
  }

  private receive(from: string, message: DatagramMessage): void {
    if (message.kind === 'gossip') {
      const handler = this.topics.get(message.channel);
      if (handler === undefined || !this.firstSight(message.channel, message.data)) return;
      handler(from, message.data);
      this.spread(message.channel, message.data, from);
      this.republish(message.channel, message.data);
    } else if (message.kind === 'query') {
      const handler = this.queryHandlers.get(message.channel);
      if (handler === undefined || message.id === undefined) return;
      const id = message.id;
      void handler(from, message.data).then(
        (answer) =>
          this.presence.sendMessage(from, { kind: 'answer', channel: message.channel, id, data: answer }),
        () => undefined, // no answer: the asker times out and uses its stream
      );
    } else {
      const pending = message.id === undefined ? undefined : this.pending.get(message.id);
      if (pending?.peerId === from) pending.resolve(message.data);
    }
  }

  private spread(topic: string, data: Uint8Array, except: string | undefined): number {
    let sent = 0;
    for (const peerId of this.presence.linkedPeers()) {
      if (peerId !== except && this.presence.sendMessage(peerId, { kind: 'gossip', channel: topic, data })) {
        sent += 1;
      }
    }
    return sent;
  }

  /** True the first time a message is seen (within SEEN_MS). */
  private firstSight(topic: string, data: Uint8Array): boolean {
    const key = createHash('sha256').update(topic).update('\0').update(data).digest('base64');
    const now = this.now();
    if (this.seen.has(key)) return false;
    if (now - this.lastSweep > SEEN_MS / 4) {
      this.lastSweep = now;
      for (const [old, at] of this.seen) if (now - at > SEEN_MS) this.seen.delete(old);
    }
    this.seen.set(key, now);
    return true;
  }
}
