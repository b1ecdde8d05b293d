import type { Libp2p } from '@libp2p/interface';
import type { CID } from 'multiformats/cid';
import type { Logger } from 'pino';
import { activeEpochs, rendezvousCid } from '../token/index.ts';
import { describeError } from '../shared/errors.ts';
import { sleep } from '../shared/sleep.ts';

export interface RendezvousOptions {
  rendezvousKey: Uint8Array;
  epochSeconds: number;
  log: Logger;
  now: () => number;
  /** Called for every provider found that is not us. */
  onFound: (peerId: string, addresses: string[]) => void;
  /** True while we know no alive member: search often; otherwise once an epoch is plenty. */
  isAlone: () => boolean;
}

const ALONE_INTERVAL_MS = 10_000;
const QUERY_TIMEOUT_MS = 15_000;

/**
 * DHT rendezvous: provide and search the CIDs of the previous, current and next epoch (so a
 * whole epoch of clock skew still meets), and cancel our records for epochs that have passed.
 */
export class Rendezvous {
  private readonly provided = new Map<number, CID>();
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly libp2p: Libp2p;
  private readonly options: RendezvousOptions;

  constructor(libp2p: Libp2p, options: RendezvousOptions) {
    this.libp2p = libp2p;
    this.options = options;
  }

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      await this.round(signal).catch((error: unknown) =>
        this.options.log.debug({ err: describeError(error) }, 'rendezvous round failed'),
      );
      const wait = this.options.isAlone() ? ALONE_INTERVAL_MS : this.options.epochSeconds * 1000;
      await sleep(wait, signal);
    }
  }

  private async round(signal: AbortSignal): Promise<void> {
    const epochs = activeEpochs(this.options.now(), this.options.epochSeconds);
    for (const [epoch, cid] of this.provided) {
      if (!epochs.includes(epoch)) {
        this.provided.delete(epoch);
        await this.libp2p.contentRouting.cancelReprovide(cid).catch(() => undefined);
      }
    }
    for (const epoch of epochs) {
      const cid = await rendezvousCid(this.options.rendezvousKey, epoch);
      if (!this.provided.has(epoch)) {
        // Providing fails while we have no DHT peers yet; it is retried next round.
        const provided = await this.libp2p.contentRouting
          .provide(cid, { signal: AbortSignal.any([signal, AbortSignal.timeout(QUERY_TIMEOUT_MS)]) })
          .then(() => true)
          .catch(() => false);
        if (provided) this.provided.set(epoch, cid);
      }
      await this.search(cid, signal);
    }
  }

  private async search(cid: CID, signal: AbortSignal): Promise<void> {
    const self = this.libp2p.peerId.toString();
    const query = AbortSignal.any([signal, AbortSignal.timeout(QUERY_TIMEOUT_MS)]);
    try {
      for await (const provider of this.libp2p.contentRouting.findProviders(cid, { signal: query })) {
        const peerId = provider.id.toString();
        if (peerId !== self) this.options.onFound(peerId, provider.multiaddrs.map(String));
      }
    } catch (error) {
      if (!signal.aborted) this.options.log.debug({ err: describeError(error) }, 'rendezvous search ended');
    }
  }
}
