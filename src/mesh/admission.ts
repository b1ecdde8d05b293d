import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import type { Logger } from 'pino';
import { describeError } from '../shared/errors.ts';
import { waitUntil } from '../shared/wait-until.ts';
import {
  admissionProof,
  newNonce,
  NONCE_BYTES,
  PROOF_BYTES,
  verifyAdmissionProof,
} from './admission-proof.ts';

export const ADMISSION_PROTOCOL = '/kairos-mesh/admission/1.0.0';
const HANDSHAKE_TIMEOUT_MS = 10_000;
const ACCEPTED = 1;

export interface AdmissionOptions {
  key: Uint8Array;
  log: Logger;
  /** Close connections of peers that do not prove the token within this time. */
  graceMs: number;
  /** Peers that cannot speak admission are kept connected (public DHT / relay infrastructure). */
  keepNonMembers: boolean;
}

export interface AdmissionCounters {
  admitted: number;
  rejected: number;
}

type Listener = (peerId: string) => void;

/**
 * Gates the mesh: a peer is a member only after an admission handshake (admission-proof.ts)
 * succeeded on one of its connections. Every other mesh protocol asks `isAdmitted` first.
 *
 * Two peers often hold two connections at once (both dialled when they found each other), so
 * everything here is per connection: each outbound connection of a peer not yet admitted runs
 * its own handshake, and a handshake broken by its connection closing costs only that
 * connection. Only a wrong proof (or a peer that does not speak admission) condemns the peer.
 */
export class Admission {
  private readonly members = new Set<string>();
  private readonly admittedListeners = new Set<Listener>();
  private readonly lostListeners = new Set<Listener>();
  private readonly graceTimers = new Set<NodeJS.Timeout>();
  private readonly counters: AdmissionCounters = { admitted: 0, rejected: 0 };
  private readonly libp2p: Libp2p;
  private readonly options: AdmissionOptions;
  private stopped = false;

  constructor(libp2p: Libp2p, options: AdmissionOptions) {
    this.libp2p = libp2p;
    this.options = options;
  }

  async start(): Promise<void> {
    await this.libp2p.handle(
      ADMISSION_PROTOCOL,
      (stream, connection) => void this.respond(stream, connection),
      {
        runOnLimitedConnection: true,
      },
    );
    this.libp2p.addEventListener('connection:open', this.onConnectionOpen);
    this.libp2p.addEventListener('peer:disconnect', this.onPeerDisconnect);
    for (const connection of this.libp2p.getConnections()) this.onConnection(connection);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.libp2p.removeEventListener('connection:open', this.onConnectionOpen);
    this.libp2p.removeEventListener('peer:disconnect', this.onPeerDisconnect);
    for (const timer of this.graceTimers) clearTimeout(timer);
    this.graceTimers.clear();
    await this.libp2p.unhandle(ADMISSION_PROTOCOL);
  }

  isAdmitted(peerId: string): boolean {
    return this.members.has(peerId);
  }

  admittedPeers(): string[] {
    return [...this.members];
  }

  stats(): AdmissionCounters {
    return { ...this.counters };
  }

  onAdmitted(listener: Listener): () => void {
    this.admittedListeners.add(listener);
    return () => this.admittedListeners.delete(listener);
  }

  /** Resolves true once the peer is admitted (at once if it is), false after `timeoutMs`. */
  waitFor(peerId: string, timeoutMs: number): Promise<boolean> {
    return waitUntil(
      () => this.isAdmitted(peerId),
      (wake) => this.onAdmitted(wake),
      timeoutMs,
    );
  }

  onLost(listener: Listener): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  private readonly onConnectionOpen = (event: CustomEvent<Connection>): void =>
    this.onConnection(event.detail);

  private readonly onPeerDisconnect = (event: CustomEvent<PeerId>): void => {
    const peerId = event.detail.toString();
    if (!this.members.delete(peerId)) return;
    for (const listener of this.lostListeners) listener(peerId);
  };

  private onConnection(connection: Connection): void {
    if (this.stopped || this.members.has(connection.remotePeer.toString())) return;
    this.armGrace(connection);
    // One handshake proves both sides, so only the side that dialled starts it; the grace
    // timer covers a dialler that never does.
    if (connection.direction === 'outbound') void this.initiate(connection);
  }

  private armGrace(connection: Connection): void {
    const timer = setTimeout(() => {
      this.graceTimers.delete(timer);
      const peerId = connection.remotePeer.toString();
      if (this.members.has(peerId) || this.options.keepNonMembers || connection.status !== 'open') return;
      this.options.log.debug({ peer: peerId }, 'closing a connection that proved no token in time');
      void connection.close().catch(() => undefined);
    }, this.options.graceMs);
    timer.unref();
    this.graceTimers.add(timer);
  }

  /** Our side of a handshake we start: we challenge, they prove, we prove. */
  private async initiate(connection: Connection): Promise<void> {
    const signal = AbortSignal.timeout(HANDSHAKE_TIMEOUT_MS);
    const self = this.libp2p.peerId.toString();
    const peerId = connection.remotePeer.toString();
    let stream: Stream;
    try {
      stream = await connection.newStream(ADMISSION_PROTOCOL, { signal, runOnLimitedConnection: true });
    } catch (error) {
      // A peer that does not speak admission is not one of us (or its connection closed).
      if (connection.status === 'open' && !this.options.keepNonMembers)
        this.reject(peerId, `no admission protocol (${describeError(error)})`);
      return;
    }
    try {
      const framed = lpStream(stream);
      const initiatorNonce = newNonce();
      await framed.write(initiatorNonce, { signal });
      const responderNonce = (await framed.read({ signal })).subarray();
      const responderProof = (await framed.read({ signal })).subarray();
      const base = { key: this.options.key, initiatorNonce, responderNonce };
      if (
        !verifyAdmissionProof(
          { ...base, role: 'responder', proverId: peerId, verifierId: self },
          responderProof,
        )
      ) {
        // An empty proof says "yours failed", so the responder counts the refusal too.
        await framed.write(new Uint8Array(0), { signal }).catch(() => undefined);
        await stream.close().catch(() => undefined);
        this.reject(peerId, 'wrong network token');
        return;
      }
      await framed.write(admissionProof({ ...base, role: 'initiator', proverId: self, verifierId: peerId }), {
        signal,
      });
      const verdict = (await framed.read({ signal })).subarray();
      await stream.close().catch(() => undefined);
      if (verdict[0] === ACCEPTED) this.admit(peerId);
      else this.reject(peerId, 'peer refused our proof');
    } catch (error) {
      this.broken(stream, connection, error);
    }
  }

  /** Their side of a handshake they started: they challenge, we prove, they prove. */
  private async respond(stream: Stream, connection: Connection): Promise<void> {
    const signal = AbortSignal.timeout(HANDSHAKE_TIMEOUT_MS);
    const self = this.libp2p.peerId.toString();
    const peerId = connection.remotePeer.toString();
    try {
      const framed = lpStream(stream);
      const initiatorNonce = (await framed.read({ signal })).subarray();
      if (initiatorNonce.length !== NONCE_BYTES) throw new Error('bad nonce');
      const responderNonce = newNonce();
      const base = { key: this.options.key, initiatorNonce, responderNonce };
      await framed.write(responderNonce, { signal });
      await framed.write(admissionProof({ ...base, role: 'responder', proverId: self, verifierId: peerId }), {
        signal,
      });
      const initiatorProof = (await framed.read({ signal })).subarray();
      const ok =
        initiatorProof.length === PROOF_BYTES &&
        verifyAdmissionProof(
          { ...base, role: 'initiator', proverId: peerId, verifierId: self },
          initiatorProof,
        );
      if (!ok) {
        // Refused before telling them: a peer that hangs up on the verdict is still counted.
        this.reject(peerId, 'wrong network token');
        await framed.write(Uint8Array.of(0), { signal }).catch(() => undefined);
        return;
      }
      // Admitted before they hear it: their first mesh stream may follow the verdict at once.
      this.admit(peerId);
      await framed.write(Uint8Array.of(ACCEPTED), { signal });
      await stream.close().catch(() => undefined);
    } catch (error) {
      this.broken(stream, connection, error);
    }
  }

  /**
   * A handshake cut short (the connection closed, a timeout under load): no verdict on the
   * peer, so only this connection goes; a handshake on another connection may still admit it.
   */
  private broken(stream: Stream, connection: Connection, error: unknown): void {
    stream.abort(error instanceof Error ? error : new Error(String(error)));
    const peerId = connection.remotePeer.toString();
    this.options.log.debug({ peer: peerId, err: describeError(error) }, 'admission handshake broken');
    if (!this.members.has(peerId)) void connection.close().catch(() => undefined);
  }

  private admit(peerId: string): void {
    if (this.stopped || this.members.has(peerId)) return;
    // The connection may have closed while the handshake finished.
    if (connectionsPeer(this.libp2p, peerId) === undefined) return;
    this.members.add(peerId);
    this.counters.admitted += 1;
    this.options.log.debug({ peer: peerId }, 'peer admitted');
    for (const listener of this.admittedListeners) listener(peerId);
  }

  /** The peer proved it is not one of us: counted, and every connection to it closed. */
  private reject(peerId: string, reason: string): void {
    if (this.members.has(peerId)) return;
    this.counters.rejected += 1;
    this.options.log.info({ peer: peerId, reason }, 'peer refused admission');
    void this.hangUp(peerId, reason);
  }

  private async hangUp(peerId: string, reason: string): Promise<void> {
    const peer = connectionsPeer(this.libp2p, peerId);
    if (peer === undefined) return;
    this.options.log.debug({ peer: peerId, reason }, 'closing connections of unadmitted peer');
    await this.libp2p.hangUp(peer).catch(() => undefined);
  }
}

function connectionsPeer(libp2p: Libp2p, peerId: string): PeerId | undefined {
  return libp2p.getConnections().find((connection) => connection.remotePeer.toString() === peerId)
    ?.remotePeer;
}
