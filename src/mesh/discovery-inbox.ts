export type DiscoveredPeer = (peerId: string, addresses: string[]) => void;

/**
 * Where discovery mechanisms drop the peers they find. mDNS answers our first query while
 * libp2p is still starting, before anything can dial: those wait here until `open`.
 */
export class DiscoveryInbox {
  private waiting: Map<string, string[]> | undefined = new Map();
  private consumer: DiscoveredPeer | undefined;

  readonly deliver: DiscoveredPeer = (peerId, addresses) => {
    if (this.consumer !== undefined) this.consumer(peerId, addresses);
    else this.waiting?.set(peerId, addresses);
  };

  open(consumer: DiscoveredPeer): void {
    const waiting = this.waiting ?? new Map<string, string[]>();
    this.waiting = undefined;
    this.consumer = consumer;
    for (const [peerId, addresses] of waiting) consumer(peerId, addresses);
  }

  close(): void {
    this.consumer = undefined;
  }
}
