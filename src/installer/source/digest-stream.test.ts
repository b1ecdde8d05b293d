import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { DigestVerifier } from './digest-stream.ts';

const data = Buffer.from('layer bytes '.repeat(1000));
const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;

async function through(verifier: DigestVerifier, input: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from([input.subarray(0, 100), input.subarray(100)]),
    verifier,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        out.push(chunk);
        callback();
      },
    }),
  );
  return Buffer.concat(out);
}

describe('streaming digest verification', () => {
  it('passes the bytes through when digest and size match, counting them', async () => {
    let counted = 0;
    const out = await through(
      new DigestVerifier(digest, 'blob', { size: data.length, onBytes: (n) => (counted += n) }),
      data,
    );
    expect(out.equals(data)).toBe(true);
    expect(counted).toBe(data.length);
  });

  it('fails on a flipped byte, a short stream and a long stream', async () => {
    const flipped = Buffer.from(data);
    flipped[5] = flipped[5]! ^ 1;
    await expect(through(new DigestVerifier(digest, 'layer 1/1'), flipped)).rejects.toThrow(
      /digest mismatch for layer 1\/1/,
    );
    await expect(
      through(new DigestVerifier(digest, 'blob', { size: data.length }), data.subarray(0, 10)),
    ).rejects.toThrow(/10 bytes instead of/);
    await expect(through(new DigestVerifier(digest, 'blob', { size: 10 }), data)).rejects.toThrow(
      /more than the 10 bytes/,
    );
  });
});
