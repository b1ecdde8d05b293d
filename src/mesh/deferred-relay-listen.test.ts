import type { Listener, Transport } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { deferRelayListen } from './deferred-relay-listen.ts';

/** A transport whose one listener records what it was asked to do. */
function recordingTransport(calls: string[]): Transport {
  const listener = {
    listen: (address: { toString(): string }) =>
      Promise.resolve(void calls.push(`listen ${address.toString()}`)),
    close: () => Promise.resolve(void calls.push('close')),
  };
  // Only the two methods the wrapper touches are exercised here.
  return { createListener: () => listener as unknown as Listener } as unknown as Transport;
}

/** A deferred listener over a recording transport, with what it recorded. */
function deferredListener(delayMs: number): { listener: Listener; calls: string[] } {
  const calls: string[] = [];
  const transport = deferRelayListen(
    () => recordingTransport(calls),
    () => delayMs,
  )({});
  return { listener: transport.createListener({} as never), calls };
}

describe('deferRelayListen', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('starts listening only after the delay, while listen itself returns at once', async () => {
    const { listener, calls } = deferredListener(7_000);
    await listener.listen(multiaddr('/p2p-circuit'));
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(6_999);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual(['listen /p2p-circuit']);
  });

  it('a close before the delay cancels the listen', async () => {
    const { listener, calls } = deferredListener(1_000);
    await listener.listen(multiaddr('/p2p-circuit'));
    await listener.close();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(calls).toEqual(['close']);
  });
});
