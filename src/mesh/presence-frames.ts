import { z } from 'zod';

/**
 * Frames on a presence stream. An empty frame is a keepalive (the cheapest possible proof of
 * life); a hello opens the stream and carries what the sender knows, `alive` marking the members
 * alive to it first-hand; a member frame says a peer became alive to the sender first-hand (peer
 * exchange and a vouch), or, about the sender itself, that its addresses changed; a gone frame
 * says a peer is no longer alive to the sender first-hand.
 */
const peerIdSchema = z.string().min(1).max(128);
const memberSchema = z.object({
  id: peerIdSchema,
  name: z.string().max(63),
  addrs: z.array(z.string().max(512)).max(32),
  alive: z.boolean().optional(),
});

const frameSchema = z.discriminatedUnion('t', [
  z.object({
    t: z.literal('hello'),
    name: z.string().max(63),
    addrs: z.array(z.string().max(512)).max(32),
    members: z.array(memberSchema).max(10_000),
  }),
  z.object({ t: z.literal('member'), member: memberSchema }),
  z.object({ t: z.literal('gone'), id: peerIdSchema }),
]);

export type PresenceMember = z.infer<typeof memberSchema>;
export type PresenceFrame = z.infer<typeof frameSchema>;

export function encodeFrame(frame: PresenceFrame): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(frame));
}

/** undefined for a keepalive; throws on anything malformed. */
export function decodeFrame(bytes: Uint8Array): PresenceFrame | undefined {
  if (bytes.length === 0) return undefined;
  return parseFrame(JSON.parse(new TextDecoder().decode(bytes)));
}

/** A frame already parsed from JSON (a datagram carries several); throws on anything malformed. */
export function parseFrame(value: unknown): PresenceFrame {
  return frameSchema.parse(value);
}

export const KEEPALIVE = new Uint8Array(0);
