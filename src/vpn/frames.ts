import { Uint8ArrayList } from 'uint8arraylist';

/**
 * Datagram framing on the relay stream: an unsigned LEB128 varint length, then the datagram
 * (the it-length-prefixed format). The reader is synchronous so a burst of frames is handed
 * on in one loop, without an async step per datagram.
 */
export const MAX_FRAME = 65_535;

export function encodeFrame(datagram: Uint8Array): Uint8Array {
  const prefix: number[] = [];
  let length = datagram.length;
  do {
    let byte = length & 0x7f;
    length >>>= 7;
    if (length > 0) byte |= 0x80;
    prefix.push(byte);
  } while (length > 0);
  const frame = new Uint8Array(prefix.length + datagram.length);
  frame.set(prefix, 0);
  frame.set(datagram, prefix.length);
  return frame;
}

export class FrameReader {
  private buffer = new Uint8ArrayList();

  /** Appends bytes from the stream and returns every datagram completed by them. */
  push(chunk: Uint8Array | Uint8ArrayList): Uint8Array[] {
    this.buffer.append(chunk);
    const frames: Uint8Array[] = [];
    for (;;) {
      let length = 0;
      let shift = 0;
      let offset = 0;
      let complete = false;
      while (offset < this.buffer.byteLength && offset < 3) {
        const byte = this.buffer.get(offset++);
        length |= (byte & 0x7f) << shift;
        shift += 7;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) {
        if (offset >= 3) throw new Error('relay frame longer than 65535 bytes');
        return frames;
      }
      if (length > MAX_FRAME) throw new Error('relay frame longer than 65535 bytes');
      if (this.buffer.byteLength < offset + length) return frames;
      frames.push(this.buffer.subarray(offset, offset + length));
      this.buffer.consume(offset + length);
    }
  }

  /** Bytes of an incomplete frame still waiting for the rest. */
  get buffered(): number {
    return this.buffer.byteLength;
  }
}
