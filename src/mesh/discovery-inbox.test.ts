import { describe, expect, it } from 'vitest';
import { DiscoveryInbox } from './discovery-inbox.ts';

describe('discovery inbox', () => {
  it('keeps peers found before it opens, then passes each one on at once until it closes', () => {
    const inbox = new DiscoveryInbox();
    const seen: string[] = [];
    inbox.deliver('early', ['/ip4/198.18.0.1/tcp/4001']);
    inbox.deliver('early', ['/ip4/198.18.0.2/tcp/4001']);
    inbox.open((peerId, addresses) => seen.push(`${peerId} ${addresses.join(',')}`));
    expect(seen).toEqual(['early /ip4/198.18.0.2/tcp/4001']);
    inbox.deliver('later', []);
    expect(seen).toEqual(['early /ip4/198.18.0.2/tcp/4001', 'later ']);
    inbox.close();
    inbox.deliver('after-close', []);
    expect(seen).toHaveLength(2);
  });
});
