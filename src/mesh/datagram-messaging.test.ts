import { describe, expect, it } from 'vitest';
import { DatagramMessaging } from './datagram-messaging.ts';
import type { DatagramMessage } from './presence-datagram.ts';
import type { Presence } from './presence.ts';

/** Presence as DatagramMessaging sees it: a set of linked peers and what was sent to them. */
function fakePresence(linked: string[]) {
  const sent: Array<{ to: string; message: DatagramMessage }> = [];
  let deliver: (from: string, message: DatagramMessage) => void = () => undefined;
  const presence = {
    linkedPeers: () => [...linked],
    hasLinks: () => linked.length > 0,
    sendMessage: (to: string, message: DatagramMessage) => {
      if (!linked.includes(to)) return false;
      sent.push({ to, message });
      return true;
    },
    onDatagramMessage: (listener: typeof deliver) => (deliver = listener),
  } as unknown as Presence;
  return { presence, sent, receive: (from: string, message: DatagramMessage) => deliver(from, message) };
}

const gossip = (text: string): DatagramMessage => ({
  kind: 'gossip',
  channel: '/t',
  data: Buffer.from(text),
});

describe('datagram messaging', () => {
  it('delivers gossip once, and passes it on to the other linked members and into gossipsub', () => {
    const { presence, sent, receive } = fakePresence(['a', 'b', 'c']);
    const republished: string[] = [];
    const messaging = new DatagramMessaging(
      presence,
      (_, data) => republished.push(Buffer.from(data).toString()),
      () => 0,
    );
    const delivered: string[] = [];
    messaging.subscribe('/t', (from, data) => delivered.push(`${from}:${Buffer.from(data).toString()}`));
    receive('a', gossip('x'));
    receive('b', gossip('x'));
    receive('a', { ...gossip('y'), channel: '/other' });
    expect(delivered).toEqual(['a:x']);
    expect(sent.map((s) => s.to)).toEqual(['b', 'c']);
    expect(republished).toEqual(['x']);
    // Gossip that came by gossipsub goes on to the linked members once.
    messaging.passOn('/t', Buffer.from('z'));
    messaging.passOn('/t', Buffer.from('z'));
    expect(sent.filter((s) => Buffer.from(s.message.data).toString() === 'z')).toHaveLength(3);
  });

  it('publishes to every linked member, and remembers nothing while none is linked', () => {
    const linked: string[] = [];
    const { presence, sent, receive } = fakePresence(linked);
    const messaging = new DatagramMessaging(
      presence,
      () => undefined,
      () => 0,
    );
    const delivered: string[] = [];
    messaging.subscribe('/t', (from) => delivered.push(from));
    expect(messaging.publish('/t', Buffer.from('m'))).toBe(0);
    linked.push('a', 'b');
    receive('a', gossip('m')); // not remembered before: delivered (the ledger ignores a duplicate)
    expect(delivered).toEqual(['a']);
    expect(messaging.publish('/t', Buffer.from('n'))).toBe(2);
    receive('a', gossip('n')); // our own, back: not delivered again
    expect(delivered).toEqual(['a']);
    expect(sent.map((s) => s.to)).toEqual(['b', 'a', 'b']);
  });

  it('pairs an answer with its query, and gives up after the timeout or for an unlinked peer', async () => {
    const { presence, sent, receive } = fakePresence(['a']);
    const messaging = new DatagramMessaging(
      presence,
      () => undefined,
      () => 0,
    );
    messaging.handleQuery('/p', (from, request) =>
      Promise.resolve(Buffer.from(`${from} asked ${Buffer.from(request).toString()}`)),
    );
    const asked = messaging.query('a', '/p', Buffer.from('q'), 1_000);
    const query = sent[0]!.message;
    expect(query).toMatchObject({ kind: 'query', channel: '/p' });
    receive('b', { kind: 'answer', channel: '/p', id: query.id!, data: Buffer.from('forged') }); // wrong peer
    receive('a', { kind: 'answer', channel: '/p', id: query.id!, data: Buffer.from('right') });
    expect(Buffer.from((await asked)!).toString()).toBe('right');
    expect(await messaging.query('nobody', '/p', Buffer.from('q'), 1_000)).toBeUndefined();
    expect(await messaging.query('a', '/p', Buffer.from('q'), 20)).toBeUndefined();
    // And it answers queries it has a handler for.
    receive('a', { kind: 'query', channel: '/p', id: 9, data: Buffer.from('v') });
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent.at(-1)).toMatchObject({ to: 'a', message: { kind: 'answer', id: 9 } });
    expect(Buffer.from(sent.at(-1)!.message.data).toString()).toBe('a asked v');
  });
});
