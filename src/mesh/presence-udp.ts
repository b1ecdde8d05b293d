import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import { describeError } from '../shared/errors.ts';
import type { PeerSigner, SignatureVerifier } from '../shared/peer-keys.ts';
import {
  DatagramCounter,
  encodeMessage,
  openDatagram,
  ReplayGuard,
  sealDatagram,
  type DatagramContent,
  type DatagramMessage,
} from './presence-datagram.ts';
import type { PresenceFrame } from './presence-frames.ts';

export interface Endpoint {
  host: string;
  port: number;
}

export interface PresenceUdpOptions {
  key: Uint8Array;
  signer: PeerSigner;
  verifier: SignatureVerifier;
  log: Logger;
  now: () => number;
}

export interface PresenceUdpStats {
  received: number;
  rejected: number;
}

/**
 * Bodies above this are not sent (UDP's limit is 64 KiB): a hello listing a large mesh, a large
 * gossip frame; the libp2p streams carry them once the connection is up.
 */
export const MAX_BODY_BYTES = 60 * 1024;

const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

type Item = { frame: PresenceFrame } | { message: ReturnType<typeof encodeMessage> };

interface Outgoing {
  endpoint: Endpoint;
  items: Item[];
  wantsHello: boolean;
}

/**
 * The UDP socket of presence datagrams (presence-datagram.ts): frames queued for one endpoint
 * in one event-loop turn leave together, and what arrives is opened, checked for replay and
 * handed on. A node that cannot bind simply has no datagrams (the libp2p streams remain).
 */
export class PresenceUdp {
  private socket: Socket | undefined;
  private readonly guard = new ReplayGuard();
  private readonly counter = new DatagramCounter();
  private readonly outgoing = new Map<string, Outgoing>();
  private flushScheduled = false;
  private readonly stats: PresenceUdpStats = { received: 0, rejected: 0 };
  private readonly options: PresenceUdpOptions;
  private onContent: (content: DatagramContent, endpoint: Endpoint) => void = () => undefined;

  constructor(options: PresenceUdpOptions) {
    this.options = options;
  }

  /** Binds host:port; false (and no datagrams) when that fails. */
  async start(host: string, port: number): Promise<boolean> {
    const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
    socket.on('message', (datagram, remote) =>
      this.receive(datagram, { host: remote.address, port: remote.port }),
    );
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind({ address: host, port, exclusive: true }, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      this.options.log.debug(
        { err: describeError(error), port },
        'no presence datagrams: UDP port not bound',
      );
      socket.close();
      return false;
    }
    // A busy node may not read for a while as its joiners' datagrams pour in (the kernel caps
    // this at net.core.rmem_max).
    socket.setRecvBufferSize(RECEIVE_BUFFER_BYTES);
    // A send to a closed port comes back as an error on the socket; losing a datagram is normal.
    socket.on('error', (error) =>
      this.options.log.debug({ err: describeError(error) }, 'presence datagram error'),
    );
    this.socket = socket;
    return true;
  }

  stop(): void {
    this.socket?.close();
    this.socket = undefined;
    this.outgoing.clear();
  }

  onReceive(listener: (content: DatagramContent, endpoint: Endpoint) => void): void {
    this.onContent = listener;
  }

  get running(): boolean {
    return this.socket !== undefined;
  }

  /** The bound UDP port (0 when not bound). */
  port(): number {
    return this.socket?.address().port ?? 0;
  }

  counters(): PresenceUdpStats {
    return { ...this.stats };
  }

  /** Queues a frame (none: a keepalive) for the endpoint; `wantsHello` asks for its hello back. */
  send(endpoint: Endpoint, frame: PresenceFrame | undefined, wantsHello = false): void {
    this.queue(endpoint, frame === undefined ? undefined : { frame }, wantsHello);
  }

  sendMessage(endpoint: Endpoint, message: DatagramMessage): void {
    this.queue(endpoint, { message: encodeMessage(message) }, false);
  }

  private queue(endpoint: Endpoint, item: Item | undefined, wantsHello: boolean): void {
    if (this.socket === undefined) return;
    const key = `${endpoint.host}|${endpoint.port}`;
    const queued = this.outgoing.get(key) ?? { endpoint, items: [], wantsHello: false };
    if (item !== undefined) queued.items.push(item);
    queued.wantsHello ||= wantsHello;
    this.outgoing.set(key, queued);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const socket = this.socket;
    if (socket === undefined) return;
    for (const { endpoint, items, wantsHello } of this.outgoing.values()) {
      for (const batch of batches(items)) {
        const datagram = sealDatagram(this.options.key, this.options.signer, {
          counter: this.counter.next(this.options.now()),
          wantsHello,
          frames: batch.flatMap((item) => ('frame' in item ? [item.frame] : [])),
          messages: batch.flatMap((item) => ('message' in item ? [item.message] : [])),
        });
        socket.send(datagram, endpoint.port, endpoint.host);
      }
    }
    this.outgoing.clear();
  }

  private receive(datagram: Buffer, endpoint: Endpoint): void {
    const opened = openDatagram(this.options.key, this.options.verifier, datagram);
    if ('refused' in opened || !this.guard.accept(opened.from, opened.counter, this.options.now())) {
      this.stats.rejected += 1;
      const reason = 'refused' in opened ? opened.refused : 'replayed or stale';
      this.options.log.debug({ from: endpoint.host, reason }, 'presence datagram refused');
      return;
    }
    this.stats.received += 1;
    this.onContent(opened, endpoint);
  }
}

/** Items in groups that fit a datagram (an empty group is a keepalive); oversized ones are left out. */
function batches(items: Item[]): Item[][] {
  if (items.length === 0) return [[]];
  const result: Item[][] = [];
  let current: Item[] = [];
  let size = 0;
  for (const item of items) {
    const itemSize = JSON.stringify('frame' in item ? item.frame : item.message).length + 1;
    if (itemSize > MAX_BODY_BYTES) continue;
    if (size + itemSize > MAX_BODY_BYTES) {
      result.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += itemSize;
  }
  if (current.length > 0) result.push(current);
  return result;
}
