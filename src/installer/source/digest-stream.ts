import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { ExitCode, KairosError } from '../../shared/errors.ts';

/**
 * Passes bytes through while hashing them; at the end the sha256 must equal `expected`
 * (and the length `size`, when known), or the stream fails. Used on compressed blobs (digest)
 * and on uncompressed layers (diff_id). With no `expected` digest it only counts.
 */
export class DigestVerifier extends Transform {
  readonly #hash = createHash('sha256');
  readonly #expected: string | undefined;
  readonly #size: number | undefined;
  readonly #what: string;
  readonly #onBytes: ((count: number) => void) | undefined;
  #count = 0;

  constructor(
    expected: string | undefined,
    what: string,
    options: { size?: number; onBytes?: (count: number) => void } = {},
  ) {
    super();
    this.#expected = expected;
    this.#what = what;
    this.#size = options.size;
    this.#onBytes = options.onBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#expected !== undefined) this.#hash.update(chunk);
    this.#count += chunk.length;
    this.#onBytes?.(chunk.length);
    if (this.#size !== undefined && this.#count > this.#size) {
      callback(this.#mismatch(`more than the ${this.#size} bytes announced`));
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.#expected === undefined) return callback();
    const actual = `sha256:${this.#hash.digest('hex')}`;
    if (this.#size !== undefined && this.#count !== this.#size) {
      callback(this.#mismatch(`${this.#count} bytes instead of ${this.#size}`));
    } else if (actual !== this.#expected) {
      callback(this.#mismatch(`content hashes to ${actual.slice(0, 19)}…`));
    } else {
      callback();
    }
  }

  #mismatch(detail: string): KairosError {
    return new KairosError(
      'DIGEST_MISMATCH',
      `digest mismatch for ${this.#what} ${(this.#expected ?? '').slice(0, 19)}…: ${detail}`,
      { exitCode: ExitCode.dataErr },
    );
  }
}
