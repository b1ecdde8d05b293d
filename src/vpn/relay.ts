import { createSocket, type Socket } from 'node:dgram';
import * as lp from 'it-length-prefixed';
import type { Logger } from 'pino';
import { describeError } from '../shared/errors.ts';
import type { RelayStream, RelayTransport } from './ports.ts';

export const VPN_RELAY_PROTOCOL = '/kairos-mesh/vpn-relay/1.0.0';

/** Largest datagram carried (WireGuard never sends more than MTU + 80 bytes). */
const MAX_DATAGRAM = 65_535;
const REDIAL_AFTER_MS = 2_000;
const DIAL_TIMEOUT_MS = 10_000;

interface BridgeStream {
  stream: RelayStream;
  /** The peer id that opened it; the stream opened by the smaller id is the one both sides use. */
  dialer: string;
  /** send() said the buffer is full: drop datagrams until 'drain'. */
  blocked: boolean;
}

export interface RelayCounters {
  /** Datagrams (bytes) from local WireGuard onto the stream. */
  txBytes: number;
  /** Datagrams (bytes) from the stream into local WireGuard. */
  rxBytes: number;
  /** Datagrams dropped because the stream was full or not up yet. */
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
    await Promise.all(
      bridge.streams.map((entry) =>
        entry.stream.close().catch(() => entry.stream.abort(new Error('closed'))),
      ),
    );
    bridge.streams = [];
    bridge.socket.close();
  }

  private async open(peerId: string): Promise<Bridge> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
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
    };
    socket.on('error', (error) =>
      this.log.warn({ peer: peerId, err: describeError(error) }, 'relay socket error'),
    );
    socket.on('message', (datagram, from) => {
      if (from.address !== '127.0.0.1' || from.port !== this.wgPort) return;
      this.forward(bridge, datagram);
    });
    this.bridges.set(peerId, bridge);
    return bridge;
  }

  private forward(bridge: Bridge, datagram: Buffer): void {
    const entry = preferred(bridge.streams);
    if (entry === undefined || entry.blocked) {
      bridge.counters.dropped++;
      return;
    }
    try {
      if (!entry.stream.send(lp.encode.single(datagram))) {
        entry.blocked = true;
        entry.stream.addEventListener('drain', () => (entry.blocked = false), { once: true });
      }
      bridge.counters.txBytes += datagram.length;
    } catch {
      bridge.counters.dropped++;
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
        await stream.close();
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
    // Both sides send on the stream opened by the smaller peer id; once that one exists the
    // other is redundant and its opener closes it.
    const own = bridge.streams.find((other) => other.dialer === this.selfId);
    if (dialer !== this.selfId && dialer < this.selfId && own !== undefined) void this.drop(bridge, own);
    void this.pump(bridge, entry);
  }

  private async pump(bridge: Bridge, entry: BridgeStream): Promise<void> {
    try {
      for await (const frame of lp.decode(entry.stream, { maxDataLength: MAX_DATAGRAM })) {
        const datagram = frame.subarray();
        bridge.counters.rxBytes += datagram.length;
        bridge.socket.send(datagram, this.wgPort, '127.0.0.1');
      }
    } catch (error) {
      this.log.debug({ peer: bridge.peerId, err: describeError(error) }, 'relay stream ended');
    } finally {
      bridge.streams = bridge.streams.filter((other) => other !== entry);
      if (bridge.streams.length === 0 && !bridge.wanted && this.bridges.get(bridge.peerId) === bridge)
        await this.close(bridge.peerId);
    }
  }

  private async drop(bridge: Bridge, entry: BridgeStream): Promise<void> {
    bridge.streams = bridge.streams.filter((other) => other !== entry);
    await entry.stream.close().catch(() => entry.stream.abort(new Error('closed')));
  }
}

function preferred(streams: readonly BridgeStream[]): BridgeStream | undefined {
  let best: BridgeStream | undefined;
  for (const entry of streams) if (best === undefined || entry.dialer < best.dialer) best = entry;
  return best;
}
