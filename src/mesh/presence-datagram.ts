import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { PeerSigner, SignatureVerifier } from '../shared/peer-keys.ts';
import { parseFrame, type PresenceFrame } from './presence-frames.ts';

/**
 * Presence frames in one UDP datagram, for the seconds before a member's libp2p connection is
 * up (see presence.ts). Sealed with the token's datagram key (ChaCha20-Poly1305): a peer without
 * the token can neither read nor forge one. Signed with the sender's peer key inside the seal:
 * a member cannot speak, or vouch, for another. A counter that only grows (milliseconds, so a
 * restarted sender goes on above it) refuses replays.
 *
 *   version (1) | nonce (12) | seal( signature (64) | body JSON ) | tag (16)
 */
const VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const SIGNATURE_BYTES = 64;
const HEADER = Buffer.from([VERSION]);
// The signed bytes start with a label of their own, so a datagram's signature is never valid
// for anything else the same key signs (ledger entries).
const SIGNED_LABEL = Buffer.from('kairos-mesh presence datagram\n', 'utf8');
/** A counter this far from our clock is a replay or a broken clock: refused. */
export const COUNTER_WINDOW_MS = 60_000;

const messageSchema = z.object({
  k: z.enum(['gossip', 'query', 'answer']),
  /** The gossip topic, or the protocol of a query and its answer. */
  c: z.string().min(1).max(256),
  /** Pairs an answer with its query. */
  i: z.number().int().nonnegative().optional(),
  /** The payload: text as is (JSON, mostly: base64 would add a third), else base64 in `d`. */
  s: z.string().optional(),
  d: z.string().optional(),
});

const bodySchema = z.object({
  f: z.string().min(1).max(128),
  n: z.number().int().nonnegative(),
  /** The sender wants our hello back (it greets us, or restarted). */
  r: z.literal(1).optional(),
  b: z.array(z.unknown()).max(1_000),
  m: z.array(messageSchema).max(1_000).optional(),
});

/**
 * What other modules send to a member reached by datagram (see Mesh): gossip, and a query with
 * its answer (a ledger pull that fits one datagram).
 */
export interface DatagramMessage {
  kind: 'gossip' | 'query' | 'answer';
  channel: string;
  id?: number;
  data: Uint8Array;
}

export interface DatagramContent {
  from: string;
  counter: number;
  wantsHello: boolean;
  /** Empty (and no messages) for a keepalive. */
  frames: PresenceFrame[];
  messages: DatagramMessage[];
}

/** A message as it goes in the body. */
export function encodeMessage(message: DatagramMessage): z.infer<typeof messageSchema> {
  const payload = Buffer.from(message.data);
  const text = payload.toString('utf8');
  return {
    k: message.kind,
    c: message.channel,
    ...(message.id === undefined ? {} : { i: message.id }),
    ...(Buffer.byteLength(text, 'utf8') === payload.length && Buffer.from(text, 'utf8').equals(payload)
      ? { s: text }
      : { d: payload.toString('base64') }),
  };
}

function decodeMessage(message: z.infer<typeof messageSchema>): DatagramMessage {
  return {
    kind: message.k,
    channel: message.c,
    ...(message.i === undefined ? {} : { id: message.i }),
    data: message.s !== undefined ? Buffer.from(message.s, 'utf8') : Buffer.from(message.d ?? '', 'base64'),
  };
}

/** What a datagram carries, messages already encoded (encodeMessage). */
export interface DatagramBody {
  counter: number;
  wantsHello: boolean;
  frames: PresenceFrame[];
  messages: Array<ReturnType<typeof encodeMessage>>;
}

export function sealDatagram(key: Uint8Array, signer: PeerSigner, content: DatagramBody): Buffer {
  const body = Buffer.from(
    JSON.stringify({
      f: signer.peerId,
      n: content.counter,
      ...(content.wantsHello ? { r: 1 } : {}),
      b: content.frames,
      ...(content.messages.length > 0 ? { m: content.messages } : {}),
    }),
    'utf8',
  );
  const signature = signer.signRaw(Buffer.concat([SIGNED_LABEL, body]));
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(HEADER, { plaintextLength: signature.length + body.length });
  const sealed = Buffer.concat([cipher.update(signature), cipher.update(body), cipher.final()]);
  return Buffer.concat([HEADER, nonce, sealed, cipher.getAuthTag()]);
}

/** The content, or why the datagram is refused (never its bytes: they may carry anything). */
export function openDatagram(
  key: Uint8Array,
  verifier: SignatureVerifier,
  datagram: Buffer,
): DatagramContent | { refused: string } {
  if (datagram.length < 1 + NONCE_BYTES + SIGNATURE_BYTES + TAG_BYTES) return { refused: 'too short' };
  if (datagram[0] !== VERSION) return { refused: 'unknown version' };
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('chacha20-poly1305', key, datagram.subarray(1, 1 + NONCE_BYTES), {
      authTagLength: TAG_BYTES,
    });
    const sealed = datagram.subarray(1 + NONCE_BYTES, datagram.length - TAG_BYTES);
    decipher.setAAD(HEADER, { plaintextLength: sealed.length });
    decipher.setAuthTag(datagram.subarray(datagram.length - TAG_BYTES));
    plain = Buffer.concat([decipher.update(sealed), decipher.final()]);
  } catch {
    return { refused: 'not sealed with this network key' };
  }
  const body = plain.subarray(SIGNATURE_BYTES);
  let parsed: z.infer<typeof bodySchema>;
  let frames: PresenceFrame[];
  try {
    parsed = bodySchema.parse(JSON.parse(body.toString('utf8')));
    frames = parsed.b.map(parseFrame);
  } catch {
    return { refused: 'malformed' };
  }
  const signed = Buffer.concat([SIGNED_LABEL, body]);
  if (!verifier.verifyRaw(parsed.f, signed, plain.subarray(0, SIGNATURE_BYTES))) {
    return { refused: 'bad signature' };
  }
  return {
    from: parsed.f,
    counter: parsed.n,
    wantsHello: parsed.r === 1,
    frames,
    messages: (parsed.m ?? []).map(decodeMessage),
  };
}

const MAX_SENDERS = 10_000;

/** Accepts each sender's counters only upwards, and only near our clock. */
export class ReplayGuard {
  private readonly last = new Map<string, number>();

  accept(from: string, counter: number, nowMs: number): boolean {
    if (Math.abs(counter - nowMs) > COUNTER_WINDOW_MS) return false;
    if (counter <= (this.last.get(from) ?? -1)) return false;
    // Forgetting everyone only lets through replays that are still inside the window.
    if (this.last.size >= MAX_SENDERS && !this.last.has(from)) this.last.clear();
    this.last.set(from, counter);
    return true;
  }
}

/** The counters one sender puts on its datagrams: its clock, but always above the last. */
export class DatagramCounter {
  private last = 0;

  next(nowMs: number): number {
    this.last = Math.max(nowMs, this.last + 1);
    return this.last;
  }
}
