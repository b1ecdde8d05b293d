import { streamPair } from '@libp2p/utils';
import type { Stream } from '@libp2p/interface';
import type { LedgerTransport } from './transport.ts';

/**
 * In-process transports wired to each other (for tests and tools): gossip is delivered to every
 * other joined member, streams are real libp2p in-memory stream pairs.
 */
export class MemoryNetwork {
  private readonly members = new Map<string, MemoryMember>();
  /** When false, publish reaches no one (pull must do the work). */
  gossip = true;
  /** When true, publish goes out to the peers (and says so) but is lost on the way. */
  loseGossip = false;
  /** When true, members also answer queries as if reached by presence datagram. */
  datagrams = false;

  join(selfId: string): LedgerTransport {
    const member = new MemoryMember(selfId, this);
    this.members.set(selfId, member);
    for (const other of this.members.values()) if (other !== member) other.admitted(selfId);
    return member;
  }

  leave(selfId: string): void {
    this.members.delete(selfId);
  }

  peersOf(selfId: string): MemoryMember[] {
    return [...this.members.values()].filter((member) => member.selfId !== selfId);
  }

  member(peerId: string): MemoryMember | undefined {
    return this.members.get(peerId);
  }
}

class MemoryMember implements LedgerTransport {
  readonly selfId: string;
  private readonly network: MemoryNetwork;
  private readonly topics = new Map<string, Set<(from: string, bytes: Uint8Array) => void>>();
  private readonly handlers = new Map<string, (stream: Stream, peerId: string) => void>();
  private readonly admittedCallbacks = new Set<(peerId: string) => void>();
  private readonly queryHandlers = new Map<
    string,
    (peerId: string, request: Uint8Array) => Promise<Uint8Array>
  >();

  constructor(selfId: string, network: MemoryNetwork) {
    this.selfId = selfId;
    this.network = network;
  }

  publish(topic: string, bytes: Uint8Array): Promise<number> {
    if (!this.network.gossip) return Promise.resolve(0);
    const recipients = this.network.peersOf(this.selfId).filter((peer) => peer.topics.has(topic));
    if (this.network.loseGossip) return Promise.resolve(recipients.length);
    for (const peer of recipients)
      for (const handler of peer.topics.get(topic) ?? []) queueMicrotask(() => handler(this.selfId, bytes));
    return Promise.resolve(recipients.length);
  }

  subscribe(topic: string, handler: (from: string, bytes: Uint8Array) => void): () => void {
    const set = this.topics.get(topic) ?? new Set();
    set.add(handler);
    this.topics.set(topic, set);
    return () => set.delete(handler);
  }

  handle(protocol: string, handler: (stream: Stream, peerId: string) => void): Promise<void> {
    this.handlers.set(protocol, handler);
    return Promise.resolve();
  }

  unhandle(protocol: string): Promise<void> {
    this.handlers.delete(protocol);
    return Promise.resolve();
  }

  async dialProtocol(peerId: string, protocol: string, _signal: AbortSignal): Promise<Stream> {
    const handler = this.network.member(peerId)?.handlers.get(protocol);
    if (handler === undefined) throw new Error(`${peerId} does not handle ${protocol}`);
    const [outbound, inbound] = await streamPair({ delay: 0 });
    handler(inbound, this.selfId);
    return outbound;
  }

  queryByDatagram(peerId: string, protocol: string, request: Uint8Array): Promise<Uint8Array | undefined> {
    const handler = this.network.datagrams
      ? this.network.member(peerId)?.queryHandlers.get(protocol)
      : undefined;
    return handler === undefined ? Promise.resolve(undefined) : handler(this.selfId, request);
  }

  handleDatagramQuery(
    protocol: string,
    handler: (peerId: string, request: Uint8Array) => Promise<Uint8Array>,
  ): void {
    this.queryHandlers.set(protocol, handler);
  }

  admittedPeers(): string[] {
    return this.network.peersOf(this.selfId).map((member) => member.selfId);
  }

  onPeerAdmitted(callback: (peerId: string) => void): () => void {
    this.admittedCallbacks.add(callback);
    return () => this.admittedCallbacks.delete(callback);
  }

  admitted(peerId: string): void {
    for (const callback of this.admittedCallbacks) callback(peerId);
  }
}
