import { createHash, randomBytes } from 'node:crypto';
import { KairosError, ExitCode } from '../shared/errors.ts';

/**
 * Network token v1: `kmt1_` + base64url(binary record + 4-byte SHA-256 checksum).
 * The checksum turns a truncated or mistyped token into a clear refusal instead of a
 * silently different network.
 */
export const TOKEN_PREFIX = 'kmt1_';
const VERSION = 1;
const SECRET_BYTES = 32;
const CHECKSUM_BYTES = 4;
export const DEFAULT_NETWORK_ID = 'kairos';
export const DEFAULT_EPOCH_SECONDS = 300;

export interface NetworkToken {
  version: number;
  networkId: string;
  secret: Uint8Array;
  /** Length of a rendezvous epoch in seconds. */
  epochSeconds: number;
  overlayCidr?: string;
  bootstrap: string[];
}

export function newToken(options: Partial<Omit<NetworkToken, 'version' | 'secret'>> = {}): NetworkToken {
  return {
    version: VERSION,
    networkId: options.networkId ?? DEFAULT_NETWORK_ID,
    secret: new Uint8Array(randomBytes(SECRET_BYTES)),
    epochSeconds: options.epochSeconds ?? DEFAULT_EPOCH_SECONDS,
    ...(options.overlayCidr === undefined ? {} : { overlayCidr: options.overlayCidr }),
    bootstrap: options.bootstrap ?? [],
  };
}

export function encodeToken(token: NetworkToken): string {
  const writer = new ByteWriter();
  writer.u8(token.version);
  writer.bytes(token.secret);
  writer.u32(token.epochSeconds);
  writer.string(token.networkId);
  writer.string(token.overlayCidr ?? '');
  writer.u8(token.bootstrap.length);
  for (const address of token.bootstrap) writer.string(address);
  const body = writer.finish();
  const record = Buffer.concat([body, checksum(body)]);
  return TOKEN_PREFIX + record.toString('base64url');
}

/** Parses a token; every failure is one line that never contains the token itself. */
export function decodeToken(text: string): NetworkToken {
  const trimmed = text.trim();
  if (!trimmed.startsWith(TOKEN_PREFIX)) {
    throw invalid(
      looksLikeEdgevpnToken(trimmed)
        ? 'this looks like an edgevpn/Kairos token; kairos-mesh tokens start with kmt1_ (create one with `kairos-mesh token new`)'
        : 'not a kairos-mesh token (expected it to start with kmt1_)',
    );
  }
  const payload = trimmed.slice(TOKEN_PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(payload)) throw invalid('token contains characters outside base64url');
  const record = Buffer.from(payload, 'base64url');
  if (record.length < 1 + SECRET_BYTES + 4 + 2 + CHECKSUM_BYTES) throw invalid('token is truncated');
  const body = record.subarray(0, record.length - CHECKSUM_BYTES);
  if (!checksum(body).equals(record.subarray(record.length - CHECKSUM_BYTES))) {
    throw invalid('token is corrupted or truncated (checksum mismatch)');
  }
  try {
    const reader = new ByteReader(body);
    const version = reader.u8();
    if (version !== VERSION)
      throw invalid(`token version ${version} is not supported (this build reads version ${VERSION})`);
    const secret = reader.bytes(SECRET_BYTES);
    const epochSeconds = reader.u32();
    const networkId = reader.string();
    const overlayCidr = reader.string();
    const bootstrapCount = reader.u8();
    const bootstrap = Array.from({ length: bootstrapCount }, () => reader.string());
    reader.end();
    if (networkId === '') throw invalid('token has an empty network id');
    if (epochSeconds < 10) throw invalid('token has an epoch shorter than 10 s');
    return {
      version,
      networkId,
      secret,
      epochSeconds,
      ...(overlayCidr === '' ? {} : { overlayCidr }),
      bootstrap,
    };
  } catch (error) {
    if (error instanceof KairosError) throw error;
    throw invalid('token is malformed');
  }
}

function looksLikeEdgevpnToken(text: string): boolean {
  try {
    return Buffer.from(text, 'base64').toString('utf8').includes('otp:');
  } catch {
    return false;
  }
}

function invalid(message: string): KairosError {
  return new KairosError('TOKEN_INVALID', message, { exitCode: ExitCode.config });
}

function checksum(body: Uint8Array): Buffer {
  return createHash('sha256').update(body).digest().subarray(0, CHECKSUM_BYTES);
}

class ByteWriter {
  private readonly parts: Buffer[] = [];
  u8(value: number): void {
    this.parts.push(Buffer.from([value]));
  }
  u32(value: number): void {
    const buffer = Buffer.alloc(4);
    buffer.writeUInt32BE(value);
    this.parts.push(buffer);
  }
  bytes(value: Uint8Array): void {
    this.parts.push(Buffer.from(value));
  }
  string(value: string): void {
    const encoded = Buffer.from(value, 'utf8');
    if (encoded.length > 0xffff)
      throw new KairosError('TOKEN_FIELD_TOO_LONG', 'a token field is longer than 65535 bytes');
    const length = Buffer.alloc(2);
    length.writeUInt16BE(encoded.length);
    this.parts.push(length, encoded);
  }
  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

class ByteReader {
  private offset = 0;
  private readonly buffer: Buffer;
  constructor(buffer: Buffer) {
    this.buffer = buffer;
  }
  private take(length: number): Buffer {
    if (this.offset + length > this.buffer.length) throw invalid('token is truncated');
    const slice = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return slice;
  }
  u8(): number {
    return this.take(1).readUInt8();
  }
  u32(): number {
    return this.take(4).readUInt32BE();
  }
  bytes(length: number): Uint8Array {
    return new Uint8Array(this.take(length));
  }
  string(): string {
    const length = this.take(2).readUInt16BE();
    return this.take(length).toString('utf8');
  }
  end(): void {
    if (this.offset !== this.buffer.length) throw invalid('token has trailing bytes');
  }
}
