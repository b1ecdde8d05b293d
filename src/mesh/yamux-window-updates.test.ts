import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream';
import { defaultLogger } from '@libp2p/logger';
import { Uint8ArrayList } from 'uint8arraylist';
import { describe, expect, it } from 'vitest';
import './yamux-window-updates.ts';

const WINDOW = 256 * 1024;
const WINDOW_UPDATE = 1;

function receivingStream(frames: Array<{ type: number; length: number }>): YamuxStream {
  return new YamuxStream({
    id: '1',
    streamId: 1,
    state: StreamState.Established,
    direction: 'inbound',
    sendFrame: (frame: { type: number; length: number }) => {
      frames.push(frame);
      return true;
    },
    getRTT: () => -1,
    log: defaultLogger().forComponent('test'),
    // The init type asks for the whole message-stream option set; these are the ones used.
  } as unknown as ConstructorParameters<typeof YamuxStream>[0]);
}

function receive(stream: YamuxStream, bytes: number): void {
  // Cast: yamux is typed against its own copy of uint8arraylist.
  stream.handleData({
    header: { type: 0, flag: 0, streamID: 1, length: bytes, version: 0 },
    data: new Uint8ArrayList(new Uint8Array(bytes)),
  } as unknown as Parameters<YamuxStream['handleData']>[0]);
}

describe('yamux window updates', () => {
  it('are sent once the remote used half the window, not after every small frame', () => {
    const frames: Array<{ type: number; length: number }> = [];
    const stream = receivingStream(frames);
    for (let i = 0; i < 100; i += 1) receive(stream, 100);
    expect(frames).toEqual([]);

    receive(stream, WINDOW / 2);
    const updates = frames.filter((frame) => frame.type === WINDOW_UPDATE);
    expect(updates).toHaveLength(1);
    // The update gives back everything used, so the remote never stalls.
    expect(updates[0]!.length).toBe(100 * 100 + WINDOW / 2);
  });
});
