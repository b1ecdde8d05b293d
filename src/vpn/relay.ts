import { createSocket, type Socket } from 'node:dgram';
import { Uint8ArrayList } from 'uint8arraylist';
import type { Logger } from 'pino';
import { describeError } from '../shared/errors.ts';
import { encodeFrame, FrameReader } from './frames.ts';
import type { RelayStream, RelayTransport } from './ports.ts';

export const VPN_RELAY_PROTOCOL = '/kairos-mesh/vpn-relay/1.0.0';

const REDIAL_AFTER_MS = 2_000;
/**
 * Datagrams queued while the stream is full or still being opened; beyond this new ones are
 * dropped (UDP semantics: WireGuard and the TCP inside retransmit), so memory stays bounded.
 */
const MAX_PENDING_BYTES = 256 * 1024;
const DIAL_TIMEOUT_MS = 10_000;

interface BridgeStream {
  stream: RelayStream;
  /** The peer id that opened it; the stream opened by the smaller id is the one both sides use. */
  dialer: string;
  /** send() said the buffer is full: queue (bounded) until 'drain'. */
  blocked: boolean;
}

export interface RelayCounters {
  /** Datagrams (bytes) from local WireGuard onto the stream. */
  txBytes: number;
  /** Datagrams (bytes) from the stream into local WireGuard. */
  rxBytes: number;
  /** Datagrams dropped because the queue was full (stream full or not up yet). */
  dropped: number;
}

interface Bridge {
  peerId: string;
  socket: Socket;
  endpoint: string;
  streams: BridgeStream[];
  /** This node wants the relay (it dials); otherwise the bridge lives only for the peer's stream. */
  wanted: boolean;
  lastDialAt: number;
  dialing: boolean;
  counters: RelayCounters;
  /** Length-prefixed datagrams waiting for the next flush. */
  pending: Uint8ArrayList;
  flushScheduled: boolean;
}

/**
 * The relay half of the hybrid path. Per relayed peer: a UDP socket on 127.0.0.1 that is the
 * peer's WireGuard endpoint, and one long-lived libp2p stream carrying length-prefixed
 * datagrams. Datagrams from the stream are written to the local WireGuard port from that same
 * socket, so WireGuard on both sides sees one stable endpoint. Backpressure: while the stream's
 * write buffer is full, datagrams are dropped (UDP semantics: WireGuard and TCP inside
 * retransmit) instead of queueing without bound.
 */
export class RelayBridges {
  private readonly bridges = new Map<string, Bridge>();
  private readonly transport: RelayTransport;
  private readonly selfId: string;
  private readonly wgPort: number;
  private readonly log: Logger;
  private readonly abort = new AbortController();

  constructor(options: { transport: RelayTransport; selfId: string; wgPort: number; log: Logger }) {
    this.transport = options.transport;
    this.selfId = options.selfId;
    this.wgPort = options.wgPort;
    this.log = options.log;
  }

  async start(): Promise<void> {
    await this.transport.handle(VPN_RELAY_PROTOCOL, (stream, peerId) => void this.accept(stream, peerId));
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.transport.unhandle?.(VPN_RELAY_PROTOCOL);
    await Promise.all([...this.bridges.keys()].map((peerId) => this.close(peerId)));
  }

  endpointOf(peerId: string): string | undefined {
    return this.bridges.get(peerId)?.endpoint;
  }

  /** Open streams to the peer (1 once both sides agreed on one). */
  streamCount(peerId: string): number {
    return this.bridges.get(peerId)?.streams.length ?? 0;
  }

  countersOf(peerId: string): RelayCounters | undefined {
    return this.bridges.get(peerId)?.counters;
  }

  /** Makes sure a socket exists and a stream is open or being opened; returns the endpoint. */
  async ensure(peerId: string): Promise<string> {
    const bridge = this.bridges.get(peerId) ?? (await this.open(peerId));
    bridge.wanted = true;
    if (bridge.streams.length === 0 && !bridge.dialing && Date.now() - bridge.lastDialAt >= REDIAL_AFTER_MS)
      void this.dial(bridge);
    return bridge.endpoint;
  }

  /** This node no longer needs the relay: close what it opened; the peer's own stream stays. */
  async release(peerId: string): Promise<void> {
    const bridge = this.bridges.get(peerId);
    if (bridge === undefined) return;
    bridge.wanted = false;
    const own = bridge.streams.filter((entry) => entry.dialer === this.selfId);
    await Promise.all(own.map((entry) => this.drop(bridge, entry)));
    if (bridge.streams.length === 0) await this.close(peerId);
  }

  async close(peerId: string): Promise<void> {
    const bridge = this.bridges.get(peerId);
    if (bridge === undefined) return;
    this.bridges.delete(peerId);
    await Promise.all(bridge.streams.map((entry) => closeStream(entry.stream)));
    bridge.streams = [];
    bridge.socket.close();
  }

  private async open(peerId: string): Promise<Bridge> {
    const socket = createSocket('udp4');
    // Connected to the local WireGuard port: the kernel delivers only its datagrams, and
    // sends need no address lookup.
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => {
        socket.connect(this.wgPort, '127.0.0.1', () => {
          socket.off('error', reject);
          resolve();
        });
      });
    });
    // A second caller may have opened one while this one bound its socket.
    const raced = this.bridges.get(peerId);
    if (raced !== undefined) {
      socket.close();
      return raced;
    }
    const bridge: Bridge = {
      peerId,
      socket,
      endpoint: `127.0.0.1:${socket.address().port}`,
      streams: [],
      wanted: false,
      lastDialAt: 0,
      dialing: false,
      counters: { txBytes: 0, rxBytes: 0, dropped: 0 },
      pending: new Uint8ArrayList(),
      flushScheduled: false,
    };
    socket.on('error', (error) =>
      this.log.warn({ peer: peerId, err: describeError(error) }, 'relay socket error'),
    );
    socket.on('message', (datagram) => this.forward(bridge, datagram));
    this.bridges.set(peerId, bridge);
    return bridge;
  }

  /**
   * Queues a datagram and flushes once per event-loop turn: everything WireGuard sent in that
   * turn goes out as one stream write (one muxer frame and one encryption, not one per packet).
   */
  private forward(bridge: Bridge, datagram: Buffer): void {
    if (bridge.pending.byteLength + datagram.length > MAX_PENDING_BYTES) {
      bridge.counters.dropped++;
      return;
    }
    bridge.pending.append(encodeFrame(datagram));
    bridge.counters.txBytes += datagram.length;
    this.scheduleFlush(bridge);
  }

  private scheduleFlush(bridge: Bridge): void {
    if (bridge.flushScheduled) return;
    bridge.flushScheduled = true;
    setImmediate(() => {
      bridge.flushScheduled = false;
      this.flush(bridge);
    });
  }

  private flush(bridge: Bridge): void {
    const entry = preferred(bridge.streams);
    if (entry === undefined || entry.blocked || bridge.pending.byteLength === 0) return;
    const batch = bridge.pending;
    bridge.pending = new Uint8ArrayList();
    try {
      if (!entry.stream.send(batch)) {
        entry.blocked = true;
        entry.stream.addEventListener(
          'drain',
          () => {
            entry.blocked = false;
            this.scheduleFlush(bridge);
          },
          { once: true },
        );
      }
    } catch {
      void this.drop(bridge, entry);
    }
  }

  private async dial(bridge: Bridge): Promise<void> {
    bridge.dialing = true;
    bridge.lastDialAt = Date.now();
    try {
      const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(DIAL_TIMEOUT_MS)]);
      const stream = await this.transport.dialProtocol(bridge.peerId, VPN_RELAY_PROTOCOL, signal);
      if (this.bridges.get(bridge.peerId) !== bridge || !bridge.wanted) {
        await closeStream(stream);
        return;
      }
      this.attach(bridge, stream, this.selfId);
    } catch (error) {
      this.log.debug({ peer: bridge.peerId, err: describeError(error) }, 'relay stream could not be opened');
    } finally {
      bridge.dialing = false;
    }
  }

  private async accept(stream: RelayStream, peerId: string): Promise<void> {
    try {
      const bridge = this.bridges.get(peerId) ?? (await this.open(peerId));
      this.attach(bridge, stream, peerId);
    } catch (error) {
      this.log.warn({ peer: peerId, err: describeError(error) }, 'relay stream refused');
      stream.abort(new Error('relay unavailable'));
    }
  }

  private attach(bridge: Bridge, stream: RelayStream, dialer: string): void {
    const entry: BridgeStream = { stream, dialer, blocked: false };
    bridge.streams.push(entry);
    this.pump(bridge, entry);
    // Both sides send on the stream opened by the smaller peer id; once that one exists the
    // other is redundant and its opener (the larger id) closes it, whichever came first.
    if (this.selfId > bridge.peerId && bridge.streams.some((other) => other.dialer === bridge.peerId))
      for (const own of bridge.streams.filter((other) => other.dialer === this.selfId))
        void this.drop(bridge, own);
    this.scheduleFlush(bridge);
  }

  /** Frames from the stream go to local WireGuard as they arrive; the stream's end detaches it. */
  private pump(bridge: Bridge, entry: BridgeStream): void {
    const reader = new FrameReader();
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      bridge.streams = bridge.streams.filter((other) => other !== entry);
      void closeStream(entry.stream);
      if (bridge.streams.length === 0 && !bridge.wanted && this.bridges.get(bridge.peerId) === bridge)
        void this.close(bridge.peerId);
    };
    entry.stream.addEventListener('message', (event) => {
      if (ended) return;
      try {
        for (const datagram of reader.push(event.data)) {
          bridge.counters.rxBytes += datagram.length;
          bridge.socket.send(datagram);
        }
      } catch (error) {
        this.log.warn({ peer: bridge.peerId, err: describeError(error) }, 'bad relay frame: stream dropped');
        entry.stream.abort(new Error('bad frame'));
        end();
      }
    });
    entry.stream.addEventListener('close', end, { once: true });
    entry.stream.addEventListener('remoteCloseWrite', end, { once: true });
  }

  private async drop(bridge: Bridge, entry: BridgeStream): Promise<void> {
    bridge.streams = bridge.streams.filter((other) => other !== entry);
    await closeStream(entry.stream);
  }
}

function preferred(streams: readonly BridgeStream[]): BridgeStream | undefined {
  let best: BridgeStream | undefined;
  for (const entry of streams) if (best === undefined || entry.dialer < best.dialer) best = entry;
  return best;
}

/** Closes gracefully, but a peer that stops reading cannot hold stop() up: abort after 2 s. */
async function closeStream(stream: RelayStream): Promise<void> {
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 2_000).unref());
  const closed = stream.close().then(
    () => 'closed' as const,
    () => 'timeout' as const,
  );
  if ((await Promise.race([closed, timeout])) === 'timeout') stream.abort(new Error('relay closed'));
}
