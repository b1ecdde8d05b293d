import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../shared/logger.ts';
import { sleep } from '../shared/sleep.ts';
import type { RelayStream, RelayTransport } from './ports.ts';
import { RelayBridges } from './relay.ts';

type Listener = (event: { data: Uint8Array }) => void;

/** One end of an in-memory stream pair with a bounded write buffer, like a libp2p stream. */
class MemoryStream implements RelayStream {
  other: MemoryStream | undefined;
  /** Bytes the other end has not taken yet; over `limit` send() says wait for 'drain'. */
  queued = 0;
  paused = false;
  closed = false;
  readonly limit: number;
  private readonly listeners = new Map<string, Array<(event: { data: Uint8Array }) => void>>();

  constructor(limit: number) {
    this.limit = limit;
  }

  send(data: Uint8Array | { subarray(): Uint8Array }): boolean {
    if (this.closed) throw new Error('closed');
    const bytes = data instanceof Uint8Array ? data : data.subarray();
    this.queued += bytes.length;
    const deliver = (): void => {
      if (this.paused) return void setTimeout(deliver, 5);
      this.queued -= bytes.length;
      this.other?.emit('message', { data: bytes });
      if (this.queued === 0) this.emit('drain', { data: new Uint8Array() });
    };
    setImmediate(deliver);
    return this.queued <= this.limit;
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.emit('close', { data: new Uint8Array() });
      const other = this.other;
      if (other !== undefined && !other.closed)
        setImmediate(() => other.emit('remoteCloseWrite', { data: new Uint8Array() }));
    }
    return Promise.resolve();
  }

  abort(): void {
    void this.close();
  }

  addEventListener(type: string, listener: Listener | (() => void), options?: { once?: boolean }): void {
    const wrapped: Listener =
      options?.once === true
        ? (event) => {
            this.removeEventListener(type, wrapped);
            listener(event);
          }
        : listener;
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), wrapped]);
  }

  removeEventListener(type: string, listener: Listener): void {
    this.listeners.set(
      type,
      (this.listeners.get(type) ?? []).filter((l) => l !== listener),
    );
  }

  private emit(type: string, event: { data: Uint8Array }): void {
    for (const listener of this.listeners.get(type) ?? []) listener(event);
  }
}

/** Two nodes' transports wired to each other through MemoryStream pairs. */
function transports(limit: number): { a: RelayTransport; b: RelayTransport; dials: () => number } {
  const handlers = new Map<string, (stream: RelayStream, peerId: string) => void>();
  let dials = 0;
  const make = (self: string): RelayTransport => ({
    handle: (_protocol, handler) => void handlers.set(self, handler),
    dialProtocol: async (peerId) => {
      dials++;
      await sleep(5);
      const mine = new MemoryStream(limit);
      const theirs = new MemoryStream(limit);
      mine.other = theirs;
      theirs.other = mine;
      handlers.get(peerId)?.(theirs, self);
      return mine;
    },
  });
  return { a: make('A'), b: make('B'), dials: () => dials };
}

async function udp(): Promise<Socket & { received: Buffer[] }> {
  const socket = createSocket('udp4') as Socket & { received: Buffer[] };
  socket.received = [];
  socket.on('message', (message) => socket.received.push(message));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  // A burst of a few hundred KiB must not overflow the kernel's receive buffer in the test.
  socket.setRecvBufferSize(4 * 1024 * 1024);
  return socket;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function pair(limit = 1 << 20) {
  const wgA = await udp();
  const wgB = await udp();
  const t = transports(limit);
  const a = new RelayBridges({
    transport: t.a,
    selfId: 'A',
    wgPort: wgA.address().port,
    log: silentLogger(),
  });
  const b = new RelayBridges({
    transport: t.b,
    selfId: 'B',
    wgPort: wgB.address().port,
    log: silentLogger(),
  });
  await a.start();
  await b.start();
  cleanups.push(
    () => a.stop(),
    () => b.stop(),
    () => void wgA.close(),
    () => void wgB.close(),
  );
  return { a, b, wgA, wgB, dials: t.dials };
}

const until = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !check(); i++) await sleep(10);
  expect(check()).toBe(true);
};

describe('relay bridges', () => {
  it('carries datagrams both ways; each side sees one stable local endpoint', async () => {
    const { a, b, wgA, wgB } = await pair();
    const endpointA = await a.ensure('B');
    const [host, port] = endpointA.split(':');
    wgA.send(Buffer.from('handshake-init'), Number(port), host);
    await until(() => wgB.received.length === 1);
    expect(wgB.received[0]!.toString()).toBe('handshake-init');
    // B answers to where the datagram came from: its own bridge socket for A.
    const endpointB = b.endpointOf('A')!;
    const [hostB, portB] = endpointB.split(':');
    for (let i = 0; i < 50; i++) wgB.send(Buffer.from(`reply-${i}`), Number(portB), hostB);
    await until(() => wgA.received.length === 50);
    expect(wgA.received.map(String)).toEqual(Array.from({ length: 50 }, (_, i) => `reply-${i}`));
    expect(a.countersOf('B')).toMatchObject({ txBytes: 14, rxBytes: 50 * 7 + 40 * 1, dropped: 0 });
  });

  it('ignores datagrams that do not come from the local WireGuard port', async () => {
    const { a, wgB } = await pair();
    const stranger = await udp();
    cleanups.push(() => void stranger.close());
    const [host, port] = (await a.ensure('B')).split(':');
    stranger.send(Buffer.from('spoof'), Number(port), host);
    await sleep(100);
    expect(wgB.received).toEqual([]);
    expect(a.countersOf('B')?.txBytes).toBe(0);
  });

  it('both sides dialling at once end with one stream, and keep working', async () => {
    const { a, b, wgA, wgB } = await pair();
    await Promise.all([a.ensure('B'), b.ensure('A')]);
    await until(() => a.streamCount('B') === 1 && b.streamCount('A') === 1);
    const [host, port] = a.endpointOf('B')!.split(':');
    wgA.send(Buffer.from('x'), Number(port), host);
    await until(() => wgB.received.length === 1);
  });

  it('bounds what a stalled stream holds (its window + one batch + a 256 KiB queue), dropping the rest', async () => {
    const { a, b, wgA, wgB } = await pair(16 * 1024);
    const [host, port] = (await a.ensure('B')).split(':');
    await until(() => a.streamCount('B') === 1 && b.streamCount('A') === 1);
    // Stall the stream: nothing is delivered, so no 'drain' comes.
    const stalled = (
      a as unknown as { bridges: Map<string, { streams: Array<{ stream: MemoryStream }> }> }
    ).bridges.get('B')!.streams[0]!.stream;
    stalled.paused = true;
    const datagram = Buffer.alloc(1400, 7);
    for (let i = 0; i < 400; i++) {
      wgA.send(datagram, Number(port), host);
      if (i % 50 === 0) await sleep(5);
    }
    await until(() => a.countersOf('B')!.txBytes + a.countersOf('B')!.dropped * 1400 === 400 * 1400);
    const { txBytes, dropped } = a.countersOf('B')!;
    expect(dropped).toBeGreaterThan(0);
    // The stream takes one batch past its window, then at most 256 KiB wait in the queue.
    expect(txBytes).toBeLessThanOrEqual(16 * 1024 + 2 * 256 * 1024);
    stalled.paused = false;
    await until(() => wgB.received.length === txBytes / 1400);
  });
});
