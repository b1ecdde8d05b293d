import { ExitCode, KairosError } from '../../shared/errors.ts';

/**
 * A streaming tar reader (ustar, pax and GNU long names) that keeps pax values as raw bytes, so
 * binary xattrs such as security.capability survive, and that reports a truncated archive as
 * such instead of ending quietly.
 */
export type TarType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'directory' | 'fifo';

export interface TarHeader {
  path: string;
  type: TarType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkpath: string;
  devmajor: number;
  devminor: number;
  xattrs: Map<string, Buffer>;
}

export interface TarEntry {
  header: TarHeader;
  /** Must be drained (or left alone: the reader skips what is left) before the next entry. */
  body: AsyncGenerator<Buffer>;
}

const BLOCK = 512;
const TYPES: Record<string, TarType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'directory',
  '6': 'fifo',
};

export function truncated(what: string): KairosError {
  return new KairosError('ARCHIVE_TRUNCATED', `${what} is truncated or corrupt`, {
    exitCode: ExitCode.dataErr,
  });
}

/** Exact-length reads over an async iterable of chunks. */
export class ByteReader {
  readonly #source: AsyncIterator<Buffer | Uint8Array>;
  readonly #what: string;
  #buffer: Buffer = Buffer.alloc(0);

  constructor(source: AsyncIterable<Buffer | Uint8Array>, what: string) {
    this.#source = source[Symbol.asyncIterator]();
    this.#what = what;
  }

  async #fill(): Promise<boolean> {
    const next = await this.#source.next();
    if (next.done === true) return false;
    const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    return true;
  }

  /** `n` bytes, or undefined at a clean end of input. */
  async exact(n: number): Promise<Buffer | undefined> {
    while (this.#buffer.length < n) {
      if (!(await this.#fill())) {
        if (this.#buffer.length === 0) return undefined;
        throw truncated(this.#what);
      }
    }
    const out = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(n);
    return out;
  }

  async *chunks(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.#buffer.length === 0 && !(await this.#fill())) throw truncated(this.#what);
      const take = Math.min(left, this.#buffer.length);
      const out = this.#buffer.subarray(0, take);
      this.#buffer = this.#buffer.subarray(take);
      left -= take;
      yield out;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _chunk of this.chunks(n)) {
      // discard
    }
  }

  /** Reads what is left so a digest over the whole input can finish. */
  async drain(): Promise<void> {
    this.#buffer = Buffer.alloc(0);
    while (await this.#fill()) this.#buffer = Buffer.alloc(0);
  }
}

function text(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? length : end).toString('utf8');
}

function numeric(block: Buffer, start: number, length: number): number {
  const field = block.subarray(start, start + length);
  if ((field[0]! & 0x80) !== 0) {
    // GNU base-256: big-endian, first byte's high bit is the marker.
    let value = field[0]! & 0x7f;
    for (let i = 1; i < length; i += 1) value = value * 256 + field[i]!;
    return value;
  }
  const digits = field
    .toString('ascii')
    .replace(/[\0 ]+.*$/s, '')
    .trim();
  return digits === '' ? 0 : parseInt(digits, 8);
}

function checksumOk(block: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i += 1) sum += i >= 148 && i < 156 ? 32 : block[i]!;
  return sum === numeric(block, 148, 8);
}

/** pax records "len key=value\n" with values kept as bytes. */
export function parsePax(body: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let offset = 0;
  while (offset < body.length) {
    const space = body.indexOf(0x20, offset);
    if (space === -1) break;
    const length = parseInt(body.toString('ascii', offset, space), 10);
    if (!Number.isSafeInteger(length) || length <= 0 || offset + length > body.length) break;
    const record = body.subarray(space + 1, offset + length - 1);
    const eq = record.indexOf(0x3d);
    if (eq > 0) records.set(record.toString('utf8', 0, eq), Buffer.from(record.subarray(eq + 1)));
    offset += length;
  }
  return records;
}

async function readBody(reader: ByteReader, size: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of reader.chunks(size)) parts.push(Buffer.from(chunk));
  await reader.skip(padding(size));
  return Buffer.concat(parts);
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

export async function* readTar(
  source: AsyncIterable<Buffer | Uint8Array>,
  what: string,
): AsyncGenerator<TarEntry> {
  const reader = new ByteReader(source, what);
  let pax = new Map<string, Buffer>();
  let globalPax = new Map<string, Buffer>();
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const block = await reader.exact(BLOCK);
    if (block === undefined) throw truncated(what);
    if (block.every((byte) => byte === 0)) {
      await reader.drain();
      return;
    }
    if (!checksumOk(block)) throw truncated(what);
    const flag = String.fromCharCode(block[156]!);
    const size = numeric(block, 124, 12);
    if (flag === 'x' || flag === 'g') {
      const records = parsePax(await readBody(reader, size));
      if (flag === 'x') pax = records;
      else globalPax = new Map([...globalPax, ...records]);
      continue;
    }
    if (flag === 'L' || flag === 'K') {
      const value = (await readBody(reader, size)).toString('utf8').replace(/\0.*$/s, '');
      if (flag === 'L') longName = value;
      else longLink = value;
      continue;
    }
    const records = new Map([...globalPax, ...pax]);
    const prefix = block.subarray(257, 262).toString('ascii') === 'ustar' ? text(block, 345, 155) : '';
    const baseName = text(block, 0, 100);
    const paxText = (key: string): string | undefined => records.get(key)?.toString('utf8');
    const type = TYPES[flag];
    const entrySize = Number(paxText('size') ?? size);
    const header: TarHeader = {
      path: paxText('path') ?? longName ?? (prefix === '' ? baseName : `${prefix}/${baseName}`),
      type: type ?? 'file',
      mode: numeric(block, 100, 8) & 0o7777,
      uid: Number(paxText('uid') ?? numeric(block, 108, 8)),
      gid: Number(paxText('gid') ?? numeric(block, 116, 8)),
      size: entrySize,
      mtime: Math.floor(Number(paxText('mtime') ?? numeric(block, 136, 12))),
      linkpath: paxText('linkpath') ?? longLink ?? text(block, 157, 100),
      devmajor: numeric(block, 329, 8),
      devminor: numeric(block, 337, 8),
      xattrs: new Map(
        [...records]
          .filter(([key]) => key.startsWith('SCHILY.xattr.'))
          .map(([key, value]) => [key.slice('SCHILY.xattr.'.length), value]),
      ),
    };
    pax = new Map();
    longName = undefined;
    longLink = undefined;
    const body = reader.chunks(header.size);
    yield { header, body };
    // Whatever the consumer left unread is skipped.
    for await (const _chunk of body) {
      // discard
    }
    await reader.skip(padding(entrySize));
  }
}
