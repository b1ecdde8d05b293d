import { generateKeyPair } from '@libp2p/crypto/keys';
import { beforeAll, describe, expect, it } from 'vitest';
import { PeerSigner, SignatureVerifier } from '../shared/peer-keys.ts';
import { deriveKeys, newToken } from '../token/index.ts';
import {
  COUNTER_WINDOW_MS,
  DatagramCounter,
  encodeMessage,
  openDatagram,
  ReplayGuard,
  sealDatagram,
} from './presence-datagram.ts';
import type { PresenceFrame } from './presence-frames.ts';

const key = deriveKeys(newToken()).datagramKey;
const verifier = new SignatureVerifier();
const frames: PresenceFrame[] = [
  {
    t: 'hello',
    name: 'a',
    addrs: ['/ip4/198.18.0.1/tcp/1'],
    members: [{ id: 'x', name: 'x', addrs: [], alive: true }],
  },
  { t: 'gone', id: 'y' },
];
let alice: PeerSigner;
let mallory: PeerSigner;

beforeAll(async () => {
  alice = new PeerSigner(await generateKeyPair('Ed25519'));
  mallory = new PeerSigner(await generateKeyPair('Ed25519'));
});

describe('presence datagram', () => {
  it('opens what was sealed with the same key, naming the signer', () => {
    const message = { kind: 'gossip' as const, channel: '/topic', data: Buffer.from('entries') };
    const sealed = sealDatagram(key, alice, {
      counter: 42,
      wantsHello: true,
      frames,
      messages: [encodeMessage(message), encodeMessage({ ...message, kind: 'query', id: 7 })],
    });
    expect(openDatagram(key, verifier, sealed)).toEqual({
      from: alice.peerId,
      counter: 42,
      wantsHello: true,
      frames,
      messages: [message, { ...message, kind: 'query', id: 7 }],
    });
    const keepalive = sealDatagram(key, alice, { counter: 43, wantsHello: false, frames: [], messages: [] });
    expect(openDatagram(key, verifier, keepalive)).toEqual({
      from: alice.peerId,
      counter: 43,
      wantsHello: false,
      frames: [],
      messages: [],
    });
  });

  it('refuses another network key, a flipped bit, a cut datagram and another version', () => {
    const sealed = sealDatagram(key, alice, { counter: 1, wantsHello: false, frames, messages: [] });
    expect(openDatagram(deriveKeys(newToken()).datagramKey, verifier, sealed)).toEqual({
      refused: 'not sealed with this network key',
    });
    const flipped = Buffer.from(sealed);
    flipped[40]! ^= 1;
    expect(openDatagram(key, verifier, flipped)).toEqual({ refused: 'not sealed with this network key' });
    expect(openDatagram(key, verifier, sealed.subarray(0, 50))).toEqual({ refused: 'too short' });
    const version = Buffer.from(sealed);
    version[0] = 2;
    expect(openDatagram(key, verifier, version)).toEqual({ refused: 'unknown version' });
  });

  it('refuses a member speaking as another (a token holder forging a vouch)', () => {
    // Mallory holds the token, so she can seal; she signs a body that names Alice as sender.
    const forged = sealDatagram(
      key,
      { peerId: alice.peerId, signRaw: (bytes) => mallory.signRaw(bytes) } as PeerSigner,
      { counter: 1, wantsHello: false, frames, messages: [] },
    );
    expect(openDatagram(key, verifier, forged)).toEqual({ refused: 'bad signature' });
  });

  it('refuses malformed frames inside a good seal', () => {
    const bad = sealDatagram(key, alice, {
      counter: 1,
      wantsHello: false,
      frames: [{ t: 'gone' } as unknown as PresenceFrame],
      messages: [],
    });
    expect(openDatagram(key, verifier, bad)).toEqual({ refused: 'malformed' });
  });
});

describe('replay guard', () => {
  it('accepts each sender only upwards, and only near our clock', () => {
    const guard = new ReplayGuard();
    const now = 1_000_000;
    expect(guard.accept('a', now, now)).toBe(true);
    expect(guard.accept('a', now, now)).toBe(false);
    expect(guard.accept('a', now - 1, now)).toBe(false);
    expect(guard.accept('b', now - 1, now)).toBe(true);
    expect(guard.accept('a', now + 1, now)).toBe(true);
    expect(guard.accept('c', now - COUNTER_WINDOW_MS - 1, now)).toBe(false);
    expect(guard.accept('c', now + COUNTER_WINDOW_MS + 1, now)).toBe(false);
  });

  it('numbers a sender datagrams above the last even when its clock stands still or steps back', () => {
    const counter = new DatagramCounter();
    expect([counter.next(100), counter.next(100), counter.next(50), counter.next(200)]).toEqual([
      100, 101, 102, 200,
    ]);
  });
});
