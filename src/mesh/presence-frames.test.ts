import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, KEEPALIVE } from './presence-frames.ts';

describe('presence frames', () => {
  it('round-trips hello, member and gone frames; empty is a keepalive', () => {
    const hello = {
      t: 'hello' as const,
      name: 'a',
      addrs: ['/ip4/127.0.0.1/tcp/1'],
      members: [
        { id: 'p', name: 'b', addrs: [], alive: true },
        { id: 'q', name: 'c', addrs: [] },
      ],
    };
    expect(decodeFrame(encodeFrame(hello))).toEqual(hello);
    expect(decodeFrame(encodeFrame({ t: 'gone', id: 'p' }))).toEqual({ t: 'gone', id: 'p' });
    expect(decodeFrame(KEEPALIVE)).toBeUndefined();
  });

  it('rejects malformed frames', () => {
    expect(() => decodeFrame(new TextEncoder().encode('{"t":"member"}'))).toThrow();
    expect(() => decodeFrame(new TextEncoder().encode('{"t":"gone","id":""}'))).toThrow();
    expect(() => decodeFrame(new TextEncoder().encode('not json'))).toThrow();
    expect(() =>
      decodeFrame(
        new TextEncoder().encode(
          JSON.stringify({ t: 'hello', name: 'x'.repeat(64), addrs: [], members: [] }),
        ),
      ),
    ).toThrow();
  });
});
