import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as lp from 'it-length-prefixed';
import { encodeFrame, FrameReader } from './frames.ts';

describe('relay frames', () => {
  it('writes the same bytes as it-length-prefixed', () => {
    for (const size of [0, 1, 127, 128, 1420, 16_383, 16_384, 65_535]) {
      const datagram = new Uint8Array(size).map((_, i) => i & 255);
      expect(encodeFrame(datagram)).toEqual(lp.encode.single(datagram).subarray());
    }
  });

  it('reads back any datagrams however the stream splits the bytes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 30 }),
        (datagrams, cuts) => {
          const bytes = Buffer.concat(datagrams.map(encodeFrame));
          const reader = new FrameReader();
          const out: Uint8Array[] = [];
          let offset = 0;
          for (let i = 0; offset < bytes.length; i++) {
            const size = cuts[i % cuts.length]!;
            out.push(...reader.push(bytes.subarray(offset, offset + size)));
            offset += size;
          }
          expect(out.map((d) => Buffer.from(d).toString('hex'))).toEqual(
            datagrams.map((d) => Buffer.from(d).toString('hex')),
          );
          expect(reader.buffered).toBe(0);
        },
      ),
    );
  });

  it('refuses a length over 65535 (a peer cannot make it buffer without bound)', () => {
    expect(() => new FrameReader().push(new Uint8Array([0x80, 0x80, 0x04]))).toThrow(/longer than 65535/);
    expect(() => new FrameReader().push(new Uint8Array([0xff, 0xff, 0x7f]))).toThrow(/longer than 65535/);
  });
});
