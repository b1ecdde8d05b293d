import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createZstdDecompress } from 'node:zlib';

/** Gzip, zstd or plain tar, told apart by the magic bytes (media types lie in the wild). */
export async function* autoDecompress(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const iterator = source[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  let ended = false;
  while (head.length < 4) {
    const next = await iterator.next();
    if (next.done === true) {
      ended = true;
      break;
    }
    head = Buffer.concat([head, next.value]);
  }
  const all = (async function* () {
    if (head.length > 0) yield head;
    if (ended) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done === true) return;
      yield next.value;
    }
  })();
  const gzip = head[0] === 0x1f && head[1] === 0x8b;
  const zstd = head.readUInt32LE(0) === 0xfd2fb528;
  if (!gzip && !zstd) {
    yield* all;
    return;
  }
  // Large output chunks: fewer, bigger file writes downstream.
  const inflate = gzip
    ? createGunzip({ chunkSize: 256 * 1024 })
    : createZstdDecompress({ chunkSize: 256 * 1024 });
  const feeding = pipeline(Readable.from(all), inflate);
  feeding.catch(() => undefined);
  for await (const chunk of inflate) yield chunk as Buffer;
  await feeding;
}
