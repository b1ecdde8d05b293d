import type { PrivateKey, Stream } from '@libp2p/interface';
import type { Logger } from '../shared/logger.ts';
import { ExitCode, KairosError, describeError } from '../shared/errors.ts';
import { waitUntil } from '../shared/wait-until.ts';
import { canonicalJson, CanonicalError, type JsonValue } from './canonical.ts';
import { CommitQueue } from './commit-queue.ts';
import { isKept } from './compaction.ts';
import { hashEncoded, parseEntry, type Entry, type Op, type RejectReason } from './entry.ts';
import { checkFeed, type Candidate, type FeedHead } from './feed-check.ts';
import { newRejectCounts, parseIncoming, planMerge, selectAcceptable } from './incoming.ts';
import { buildEntry } from './entry-builder.ts';
import { PeerSigner, SignatureVerifier } from '../shared/peer-keys.ts';
import {
  beats,
  liveItems,
  stateKey,
  toItem,
  type StateChange,
  type StateItem,
  type StateRecord,
} from './merge.ts';
import { Mutex } from './mutex.ts';
import { checkNames, checkWrite, MAX_VALUE_BYTES } from './rules.ts';
import { LedgerStore, type Commit, type StoredEntry } from './store.ts';
import { RecentEntries } from './recent-entries.ts';
import { pullSync, serveSync } from './sync-protocol.ts';
import { LEDGER_SYNC_PROTOCOL, type LedgerTransport } from './transport.ts';
import { missingRanges, vectorDigest, vectorOf, type VersionVector } from './vector.ts';
import {
  answerPull,
  DATAGRAM_PULL_TIMEOUT_MS,
  parseAnswer,
  parseRequest,
  pullRequest,
  type DatagramPullAnswer,
} from './datagram-pull.ts';

export interface LedgerOptions {
  /** LevelDB directory, e.g. `<data-dir>/ledger`. */
  path: string;
  /** The node's libp2p Ed25519 key: signs this node's entries. */
  privateKey: PrivateKey;
  transport: LedgerTransport;
  /** Gossipsub topic for pushed entries (derived from the network token by the daemon). */
  topic: string;
  /** Sync protocol id; default LEDGER_SYNC_PROTOCOL. */
  protocol?: string;
  log: Logger;
  /** Wall clock in ms (entry `time`); default Date.now. */
  now?: () => number;
  /** [0,1) randomness for jitter and peer choice; default Math.random. */
  random?: () => number;
  /**
   * Mean period of anti-entropy with one random peer; default 10 s, jittered ±20 %. 0 = off.
   * It bounds how long gossip lost on the way (a peer not yet grafted into gossipsub's meshes)
   * stays missing; an idle exchange is ~580 bytes.
   */
  syncIntervalMs?: number;
  /** Period of compaction; default 1 h. 0 = off (call compact() yourself). */
  compactIntervalMs?: number;
  /** Entries one sync answer carries at most; default 50,000 (the puller asks again). */
  maxEntriesPerSync?: number;
  /** Longest one sync session may take; default 60 s. */
  syncTimeoutMs?: number;
}

export interface WriteOp {
  op: Op;
  bucket: string;
  key: string;
  /** The value of a put (any JSON); ignored for a delete. */
  value?: unknown;
}

export interface LedgerStats {
  selfId: string;
  entries: number;
  authors: number;
  keys: number;
  tombstones: number;
  lamport: number;
  ownSeq: number;
  /** Entries received from peers (gossip + sync), valid or not. */
  received: number;
  accepted: number;
  duplicates: number;
  deferred: number;
  rejected: Record<RejectReason, number>;
  gossipSent: number;
  gossipReceived: number;
  /** Gossip messages dropped because too many were waiting (a flood); pull repairs. */
  gossipDropped: number;
  syncsStarted: number;
  syncsFailed: number;
  syncsServed: number;
  entriesServed: number;
  compacted: number;
}

export interface VerifyReport {
  entries: number;
  authors: number;
  valid: number;
  invalid: number;
  /** Places where compaction removed entries between two kept ones. */
  holes: number;
}

const GOSSIP_BYTES = 512 * 1024;
const GAP_PULL_MIN_INTERVAL_MS = 500;
/** Gossip messages waiting for the writer lock before new ones are dropped (flood guard). */
const MAX_PENDING_GOSSIP = 256;
/** Sync requests served at once; more wait their turn (each serve may hold ~1 MiB of frames). */
const MAX_CONCURRENT_SERVES = 16;
/**
 * Sync requests that wait for a serve slot; more are refused (the peer retries on its next
 * period). Refusing at once made the 24 joiners of a mass boot, all pulling from the node they
 * bootstrapped to, lose their first pull, and with it the push of their records (~1 s later).
 */
const MAX_QUEUED_SERVES = 256;
/** Pulls running at once; further requests wait in a queue (one entry per peer). */
const MAX_CONCURRENT_PULLS = 2;
/** Urgent pulls may run beside them, up to this many more; the rest queue ahead of the others. */
const MAX_URGENT_EXTRA_PULLS = 16;
/** Peers synced with after a sync that brought news (2: the repair spreads as a tree). */
const NEWS_FANOUT = 2;
/**
 * Entries younger than this that reach us by a pull are gossiped on: they are news that the
 * author's own gossip may have missed (it published before it had any peer, as every node does
 * with its record at start-up), and waiting for each member's anti-entropy pull would take one
 * period each. Older ones are a catch-up, which gossip must not flood.
 */
const REGOSSIP_MAX_AGE_MS = 30_000;
/** A new peer is synced with again this long after its admission (see syncWithNewPeer). */
const ADMISSION_RESYNC_MS = 3_000;
/** How long a refresh asked by a peer waits for this node's own pulls. */
const REFRESH_WAIT_MS = 2_000;
/** Commits of at most this many entries are kept in memory for a minute (RecentEntries). */
const RECENT_COMMIT_MAX = 64;
/** Received commits waiting for the disk before ingesting waits for it too (memory bound). */
const MAX_UNWRITTEN_COMMITS = 64;

/** Each node's signed feed plus the merged key/value view of all feeds, replicated over the mesh. */
export class Ledger {
  private readonly options: Required<Omit<LedgerOptions, 'privateKey'>>;
  private readonly store: LedgerStore;
  private commits: CommitQueue<Commit>;
  private readonly signer: PeerSigner;
  private readonly verifier = new SignatureVerifier();
  private readonly mutex = new Mutex();
  private readonly log: Logger;
  private state = new Map<string, StateRecord>();
  private heads = new Map<string, FeedHead>();
  private lamport = 0;
  private entryCount = 0;
  private pendingGossip = 0;
  private serving = 0;
  /** Sync requests waiting for a serve slot, oldest first. */
  private readonly queuedServes: Array<() => void> = [];
  private tombstones = 0;
  private cachedVector: { vector: VersionVector; digest: string } | undefined;
  private readonly listeners = new Set<(change: StateChange) => void>();
  private readonly counters = newCounters();
  private readonly recent = new RecentEntries();
  private readonly syncing = new Map<string, { again: boolean }>();
  /** Per peer, the start of the latest pull that left this node holding all the peer had. */
  private readonly covered = new Map<string, number>();
  private readonly coverListeners = new Set<(peerId: string) => void>();
  private readonly queuedPulls = new Set<string>();
  private readonly queuedUrgentPulls = new Set<string>();
  /** Peers whose next pull asks them to refresh first (see requestSync). */
  private readonly refreshWanted = new Set<string>();
  private readonly lastGapPull = new Map<string, number>();
  private readonly cleanups: (() => void)[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private abort = new AbortController();
  private running = false;

  constructor(options: LedgerOptions) {
    this.signer = new PeerSigner(options.privateKey);
    if (this.signer.peerId !== options.transport.selfId)
      throw new Error('ledger: the transport belongs to another peer id than the key');
    this.options = {
      path: options.path,
      transport: options.transport,
      topic: options.topic,
      protocol: options.protocol ?? LEDGER_SYNC_PROTOCOL,
      log: options.log,
      now: options.now ?? Date.now,
      random: options.random ?? Math.random,
      syncIntervalMs: options.syncIntervalMs ?? 10_000,
      compactIntervalMs: options.compactIntervalMs ?? 3_600_000,
      maxEntriesPerSync: options.maxEntriesPerSync ?? 50_000,
      syncTimeoutMs: options.syncTimeoutMs ?? 60_000,
    };
    this.log = options.log;
    this.store = new LedgerStore(options.path);
    this.commits = this.newCommitQueue();
  }

  private newCommitQueue(): CommitQueue<Commit> {
    return new CommitQueue(
      (commits, sync) => this.store.commit(commits, sync),
      (error) =>
        this.log.error(
          { err: describeError(error) },
          'ledger storage failed: later entries stay in memory only and puts are refused',
        ),
    );
  }

  get selfId(): string {
    return this.signer.peerId;
  }

  async start(): Promise<void> {
    if (this.running) return;
    try {
      await this.store.open();
    } catch (error) {
      throw new KairosError(
        'LEDGER_OPEN_FAILED',
        `cannot open the ledger database at ${this.options.path}: ${describeError(error)}`,
        {
          exitCode: ExitCode.ioErr,
          cause: error,
        },
      );
    }
    this.state = await this.store.loadState();
    this.tombstones = 0;
    for (const record of this.state.values()) if (record.deleted) this.tombstones += 1;
    this.heads = await this.store.loadHeads();
    this.lamport = await this.store.loadLamport();
    this.entryCount = await this.store.countEntries();
    this.cachedVector = undefined;
    this.commits = this.newCommitQueue();
    this.abort = new AbortController();
    this.running = true;
    const { transport, topic, protocol } = this.options;
    this.cleanups.push(transport.subscribe(topic, (from, bytes) => this.onGossip(from, bytes)));
    await transport.handle(protocol, (stream, peerId) => this.onSyncStream(stream, peerId));
    this.cleanups.push(transport.onPeerAdmitted((peerId) => this.syncWithNewPeer(peerId)));
    // A member first heard by datagram (before its connection is up): pulled from at once.
    transport.handleDatagramQuery?.(protocol, (peerId, request) => this.answerDatagramPull(peerId, request));
    this.cleanups.push(transport.onPeerLinked?.((peerId) => this.requestSync(peerId)) ?? (() => undefined));
    transport.greetWith?.(topic, () => this.ownFreshGossip());
    for (const peerId of transport.admittedPeers()) this.requestSync(peerId);
    this.scheduleAntiEntropy();
    this.scheduleCompaction();
    this.log.info({ entries: this.entryCount, authors: this.heads.size }, 'ledger started');
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.abort.abort();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.queuedPulls.clear();
    this.queuedUrgentPulls.clear();
    for (const refuse of this.queuedServes.splice(0)) refuse(); // stopped: each is aborted
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    await this.options.transport.unhandle(this.options.protocol).catch(() => undefined);
    // Let the commits in flight and queued reach the disk before the database closes.
    await this.mutex.run(async () => {
      await this.commits.idle();
      await this.store.close();
    });
  }

  // ---- KV view -------------------------------------------------------------------------

  put(bucket: string, key: string, value: unknown): Promise<Entry> {
    return this.putMany([{ op: 'put', bucket, key, value }]).then((entries) => entries[0]!);
  }

  del(bucket: string, key: string): Promise<Entry> {
    return this.putMany([{ op: 'del', bucket, key }]).then((entries) => entries[0]!);
  }

  get(bucket: string, key: string): StateItem | undefined {
    const record = this.state.get(stateKey(bucket, key));
    return record === undefined || record.deleted ? undefined : toItem(record);
  }

  /** Live items, sorted by bucket then key. */
  list(bucket?: string): StateItem[] {
    return liveItems(this.state.values(), bucket);
  }

  /** The stored entries of a key (oldest first by Lamport order); compacted ones are gone. */
  async history(bucket: string, key: string): Promise<Entry[]> {
    this.assertRunning();
    await this.commits.idle();
    const entries = (await this.store.history(bucket, key)).map((encoded) => JSON.parse(encoded) as Entry);
    return entries.sort((a, b) => (beats(a, b) ? 1 : beats(b, a) ? -1 : 0));
  }

  /** Fires once per state change, local or remote. Returns the unsubscribe function. */
  subscribe(listener: (change: StateChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * A time (this node's clock, ms) such that this node holds every entry `peerId` held then:
   * the start of the latest pull from it that ended with the peer's vector covered. Undefined
   * before any such pull. `requestSync` starts one.
   */
  coveredSince(peerId: string): number | undefined {
    return this.covered.get(peerId);
  }

  /** Fires each time a pull covers a peer (`coveredSince` moved), even one that brought nothing. */
  onCovered(listener: (peerId: string) => void): () => void {
    this.coverListeners.add(listener);
    return () => this.coverListeners.delete(listener);
  }

  private noteCovered(peerId: string, since: number): void {
    this.covered.set(peerId, Math.max(since, this.covered.get(peerId) ?? since));
    for (const listener of this.coverListeners) {
      try {
        listener(peerId);
      } catch (error) {
        this.log.warn({ err: describeError(error) }, 'ledger cover listener failed');
      }
    }
  }

  versionVector(): VersionVector {
    return this.vector().vector;
  }

  stats(): LedgerStats {
    return {
      selfId: this.selfId,
      entries: this.entryCount,
      authors: this.heads.size,
      keys: this.state.size - this.tombstones,
      tombstones: this.tombstones,
      lamport: this.lamport,
      ownSeq: this.heads.get(this.selfId)?.seq ?? 0,
      ...this.counters,
      rejected: { ...this.counters.rejected },
    };
  }

  // ---- local writes ----------------------------------------------------------------------

  /**
   * Appends entries to this node's feed in one durable batch (fsync before it resolves), then
   * gossips them. Throws KairosError (nothing written) when any write breaks a rule.
   */
  async putMany(ops: WriteOp[]): Promise<Entry[]> {
    this.assertRunning();
    const prepared = ops.map((op) => this.prepare(op));
    const candidates = await this.mutex.run(async () => {
      this.assertRunning();
      let head = this.heads.get(this.selfId);
      let lamport = this.lamport;
      const built: Candidate[] = [];
      for (const { op, bucket, key, value } of prepared) {
        lamport += 1;
        const time = Math.max(0, Math.floor(this.options.now()));
        const candidate = buildEntry(this.signer, head, { lamport, time, op, bucket, key, value });
        built.push(candidate);
        head = { seq: candidate.entry.seq, hash: candidate.hash, lamport };
      }
      await this.commit(built, true);
      return built;
    });
    void this.gossip(candidates);
    return candidates.map((candidate) => candidate.entry);
  }

  private prepare(op: WriteOp): { op: Op; bucket: string; key: string; value: JsonValue | null } {
    const names = checkNames(op.bucket, op.key);
    if (names !== undefined) throw new KairosError('LEDGER_BAD_NAME', names, { exitCode: ExitCode.dataErr });
    const refused = checkWrite(this.selfId, op.bucket, op.key);
    if (refused !== undefined)
      throw new KairosError('LEDGER_WRITE_REFUSED', refused, { exitCode: ExitCode.noPerm });
    if (op.op === 'del') return { op: 'del', bucket: op.bucket, key: op.key, value: null };
    let text: string;
    try {
      text = canonicalJson(op.value ?? null);
    } catch (error) {
      const detail = error instanceof CanonicalError ? error.message : describeError(error);
      throw new KairosError('LEDGER_BAD_VALUE', `${op.bucket}/${op.key}: value is not JSON (${detail})`, {
        exitCode: ExitCode.dataErr,
      });
    }
    const size = Buffer.byteLength(text, 'utf8');
    if (size > MAX_VALUE_BYTES)
      throw new KairosError(
        'LEDGER_VALUE_TOO_LARGE',
        `${op.bucket}/${op.key}: value is ${size} bytes, the limit is ${MAX_VALUE_BYTES}`,
        {
          exitCode: ExitCode.dataErr,
        },
      );
    return { op: 'put', bucket: op.bucket, key: op.key, value: (op.value ?? null) as JsonValue };
  }

  // ---- remote entries --------------------------------------------------------------------

  /**
   * Verifies and stores entries from a peer. Never throws for bad input: every rejected entry
   * is counted by reason. Returns how many were stored, and the authors whose entries wait
   * behind a hole in their feed.
   */
  async ingest(
    raw: unknown[],
    allowHoles: boolean,
  ): Promise<{ accepted: Candidate[]; waiting: Set<string> }> {
    this.counters.received += raw.length;
    const byAuthor = parseIncoming(raw, this.verifier, this.counters, this.heads);
    const nothing = { accepted: [], waiting: new Set<string>() };
    if (byAuthor.size === 0 || !this.running) return nothing;
    return this.mutex.run(async () => {
      if (!this.running) return nothing;
      const { accepted, waiting } = selectAcceptable(
        byAuthor,
        this.heads,
        allowHoles,
        this.verifier,
        this.counters,
      );
      if (accepted.length > 0) {
        await this.commit(accepted, false);
        this.counters.accepted += accepted.length;
        if (this.commits.pending > MAX_UNWRITTEN_COMMITS) await this.commits.idle();
      }
      return { accepted, waiting };
    });
  }

  /**
   * Must run inside the mutex: merges, queues the store write, then updates memory and listeners.
   * Own entries (`durable`) wait for their fsync first: a put is shown, acknowledged and gossiped
   * only once it survives a crash. Received entries are shown at once while their write waits in
   * the queue: waiting for the disk held each gossip hop for a turn of a busy event loop (37 ms
   * p50 with 25 daemons on 2 cores), and a node that loses them in a crash pulls them again.
   */
  private async commit(candidates: Candidate[], durable: boolean): Promise<void> {
    const plan = planMerge(candidates, this.state, this.heads, this.lamport);
    const written = this.commits.enqueue(
      { entries: candidates, state: [...plan.state.values()], heads: plan.heads, lamport: plan.lamport },
      durable,
    );
    // News (a record, a vote, a put) is what syncs ask for at once; a bulk catch-up is not, and
    // would only churn the cache.
    if (candidates.length <= RECENT_COMMIT_MAX) this.recent.add(candidates, this.options.now());
    if (durable) await written;
    for (const [id, record] of plan.state) {
      const before = this.state.get(id);
      this.tombstones += (record.deleted ? 1 : 0) - (before?.deleted === true ? 1 : 0);
      this.state.set(id, record);
    }
    for (const [author, head] of plan.heads) this.heads.set(author, head);
    this.lamport = plan.lamport;
    this.entryCount += candidates.length;
    this.cachedVector = undefined;
    for (const record of plan.state.values()) this.emit(record);
  }

  private emit(record: StateRecord): void {
    const change: StateChange = { ...toItem(record), deleted: record.deleted };
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (error) {
        this.log.warn({ err: describeError(error) }, 'ledger listener failed');
      }
    }
  }

  // ---- replication -----------------------------------------------------------------------

  private async gossip(candidates: Candidate[]): Promise<void> {
    let frame: string[] = [];
    let bytes = 0;
    const send = async (): Promise<void> => {
      const text = entriesMessage(frame);
      frame = [];
      bytes = 0;
      try {
        const recipients = await this.options.transport.publish(
          this.options.topic,
          Buffer.from(text, 'utf8'),
        );
        this.counters.gossipSent += 1;
        // Gossip that reached no one (the peers' subscriptions not known yet, a pubsub stream
        // lost): a pull from a peer makes it pull our news back at once (see remoteVector).
        if (recipients === 0) this.syncWithRandomPeer();
      } catch (error) {
        // Pull (anti-entropy) delivers what push could not.
        this.log.debug({ err: describeError(error) }, 'ledger gossip not sent');
      }
    };
    for (const { encoded } of candidates) {
      if (bytes + encoded.length > GOSSIP_BYTES && frame.length > 0) await send();
      frame.push(encoded);
      bytes += encoded.length + 1;
    }
    if (frame.length > 0) await send();
  }

  private onGossip(from: string, bytes: Uint8Array): void {
    if (!this.running) return;
    this.counters.gossipReceived += 1;
    if (this.pendingGossip >= MAX_PENDING_GOSSIP) {
      // Overloaded (a flood): drop; anti-entropy fetches whatever valid entries were in it.
      this.counters.gossipDropped += 1;
      return;
    }
    let entries: unknown[];
    try {
      const message = JSON.parse(
        Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'),
      ) as {
        t?: unknown;
        entries?: unknown;
      };
      if (message.t !== 'entries' || !Array.isArray(message.entries))
        throw new Error('not an entries message');
      entries = message.entries as unknown[];
    } catch {
      this.counters.rejected.malformed += 1;
      return;
    }
    this.pendingGossip += 1;
    void this.ingest(entries, false).then(
      ({ waiting }) => {
        this.pendingGossip -= 1;
        if (waiting.size === 0) return;
        // Pull from the author itself when it is a direct admitted peer, else from the forwarder.
        const admitted = new Set(this.options.transport.admittedPeers());
        for (const author of waiting) this.requestGapPull(admitted.has(author) ? author : from);
      },
      (error: unknown) => {
        this.pendingGossip -= 1;
        this.log.warn({ err: describeError(error) }, 'ledger gossip ingest failed');
      },
    );
  }

  private requestGapPull(peerId: string): void {
    const now = this.options.now();
    if (
      now - (this.lastGapPull.get(peerId) ?? -Infinity) < GAP_PULL_MIN_INTERVAL_MS &&
      !this.syncing.has(peerId)
    ) {
      this.schedule(GAP_PULL_MIN_INTERVAL_MS, () => this.requestSync(peerId));
      return;
    }
    this.lastGapPull.set(peerId, now);
    this.requestSync(peerId);
  }

  /**
   * Pulls from one peer now (or once more after the sync in flight with it). An `urgent` pull
   * does not wait for a free slot of MAX_CONCURRENT_PULLS (up to MAX_URGENT_EXTRA_PULLS more run,
   * then urgent ones queue ahead of the rest): for a caller that waits on it, like the roles
   * bootstrap waiting to have covered every peer, behind catch-up pulls a busy node runs one
   * by one.
   */
  requestSync(peerId: string, urgent = false, refresh = false): void {
    if (!this.running || peerId === this.selfId) return;
    if (refresh) this.refreshWanted.add(peerId);
    const current = this.syncing.get(peerId);
    if (current !== undefined) {
      current.again = true;
      return;
    }
    if (urgent) {
      this.queuedPulls.delete(peerId);
      if (this.syncing.size >= MAX_CONCURRENT_PULLS + MAX_URGENT_EXTRA_PULLS) {
        this.queuedUrgentPulls.add(peerId);
        return;
      }
    } else if (this.queuedUrgentPulls.has(peerId)) return;
    else if (this.syncing.size >= MAX_CONCURRENT_PULLS) {
      // A fresh node meeting 50 peers must not fetch the same history 50 times at once: the
      // queued pulls run later and usually find equal digests.
      this.queuedPulls.add(peerId);
      return;
    }
    const slot = { again: false };
    this.syncing.set(peerId, slot);
    void (async () => {
      try {
        do {
          slot.again = false;
          await this.syncWith(peerId);
        } while (slot.again && this.running);
      } finally {
        this.syncing.delete(peerId);
        const urgentNext = this.queuedUrgentPulls.values().next();
        const next = this.queuedPulls.values().next();
        if (!urgentNext.done) {
          this.queuedUrgentPulls.delete(urgentNext.value);
          this.requestSync(urgentNext.value, true);
        } else if (!next.done) {
          this.queuedPulls.delete(next.value);
          this.requestSync(next.value);
        }
      }
    })();
  }

  /**
   * One full pull from `peerId`, repeated while the peer says its answer was capped. When it
   * brought news, NEWS_FANOUT more random peers are synced with: each pulls the news back (it
   * sees our vector), so a repair (say, after a partition heals) spreads in round trips rather than
   * in anti-entropy periods, and an idle mesh still does nothing.
   */
  async syncWith(peerId: string): Promise<void> {
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.options.syncTimeoutMs)]);
    const refresh = this.refreshWanted.delete(peerId);
    let learned = 0;
    const byDatagram = refresh ? undefined : await this.pullByDatagram(peerId);
    if (byDatagram !== undefined) learned += byDatagram.learned;
    for (let round = 0; round < 1000 && this.running && byDatagram?.covered !== true; round += 1) {
      this.counters.syncsStarted += 1;
      const startedAt = this.options.now();
      let stream: Stream | undefined;
      try {
        stream = await this.options.transport.dialProtocol(peerId, this.options.protocol, signal);
        const result = await pullSync(
          stream,
          {
            vector: () => this.vector().vector,
            digest: () => this.vector().digest,
            readRange: (author, from, to, limit) => this.readCommitted(author, from, to, limit),
            ingest: async (entries) => {
              learned += await this.ingestFromSync(entries);
            },
          },
          signal,
          refresh && round === 0,
        );
        // The peer answered after this pull started: all it held then is held here now, and so
        // is all that the peers it refreshed from held once that began, after this pull started.
        if (result.covered) {
          this.noteCovered(peerId, startedAt);
          for (const refreshed of result.refreshed) this.noteCovered(refreshed, startedAt);
        }
        if (!result.more) break;
      } catch (error) {
        this.counters.syncsFailed += 1;
        stream?.abort(error instanceof Error ? error : new Error(String(error)));
        if (this.running) this.log.debug({ peer: peerId, err: describeError(error) }, 'ledger sync failed');
        return;
      }
    }
    if (learned > 0) {
      const others = this.options.transport.admittedPeers().filter((peer) => peer !== peerId);
      for (let count = 0; count < NEWS_FANOUT && others.length > 0; count += 1)
        this.requestSync(others.splice(Math.floor(this.options.random() * others.length), 1)[0]!);
    }
  }

  /** Our own entries of the last minute as one gossip message (what a joiner's greeting carries). */
  private ownFreshGossip(): Uint8Array | undefined {
    const own = this.recent.ofAuthor(this.selfId, 16, this.options.now());
    if (own.length === 0) return undefined;
    return Buffer.from(entriesMessage(own.map((stored) => stored.encoded)), 'utf8');
  }

  /**
   * The pull of a member reached by presence datagram, one datagram each way (datagram-pull.ts);
   * undefined when the transport cannot reach it so (the stream pull follows).
   */
  private async pullByDatagram(peerId: string): Promise<{ learned: number; covered: boolean } | undefined> {
    const startedAt = this.options.now();
    const answer = await this.options.transport.queryByDatagram?.(
      peerId,
      this.options.protocol,
      pullRequest(this.vector().vector, this.recent.ofAuthor(this.selfId, 16, startedAt)),
      DATAGRAM_PULL_TIMEOUT_MS,
    );
    if (answer === undefined || !this.running) return undefined;
    let parsed: DatagramPullAnswer;
    try {
      parsed = parseAnswer(answer);
    } catch {
      this.counters.rejected.malformed += 1;
      return undefined;
    }
    this.counters.syncsStarted += 1;
    const learned = await this.ingestFromSync(parsed.entries);
    const covered = !parsed.more && missingRanges(this.vector().vector, parsed.vector).length === 0;
    if (covered) this.noteCovered(peerId, startedAt);
    return { learned, covered };
  }

  private async answerDatagramPull(peerId: string, request: Uint8Array): Promise<Uint8Array> {
    const { theirs, own } = parseRequest(request);
    // Only entries that follow on what we hold: the asker sends its newest without knowing
    // what we have, and a hole taken in would never be filled (the vector would claim it).
    if (own.length > 0) await this.ingestFromSync(own, false);
    // The asker still holds entries we lack: pulled back at once.
    if (missingRanges(this.vector().vector, theirs).length > 0) this.requestSync(peerId, true);
    return answerPull(theirs, {
      vector: () => this.vector().vector,
      readRange: (author, from, to, limit) => this.readCommitted(author, from, to, limit),
    });
  }

  /**
   * Stores entries a sync brought (pulled, or pushed by the peer that pulls from us), and
   * passes the fresh ones on by gossip: the others may not have them either. Returns how many
   * were new here.
   */
  private async ingestFromSync(entries: unknown[], allowHoles = true): Promise<number> {
    const { accepted } = await this.ingest(entries, allowHoles);
    const fresh = accepted.filter(({ entry }) => this.options.now() - entry.time <= REGOSSIP_MAX_AGE_MS);
    if (fresh.length > 0) void this.gossip(fresh);
    return accepted.length;
  }

  /**
   * Stored entries of one feed, after the writes queued so far: a sync sends what its vector
   * announced (entries are queued before the vector counts them). Not after writes queued
   * later: a node ingesting all the time (a mass boot's hub) would answer seconds late.
   */
  private async readCommitted(
    author: string,
    from: number,
    to: number,
    limit: number,
  ): Promise<StoredEntry[]> {
    const recent = this.recent.read(author, from, to, limit, this.options.now());
    if (recent !== undefined) return recent;
    await this.commits.drained();
    return this.store.readRange(author, from, to, limit);
  }

  /**
   * A refresh asked by `requester`: pulls at once from every other admitted peer and resolves,
   * within REFRESH_WAIT_MS, with those this node then holds everything of, held since the call.
   */
  private async pullFromAllBut(requester: string): Promise<string[]> {
    const since = this.options.now();
    const peers = this.options.transport.admittedPeers().filter((peer) => peer !== requester);
    const covered = (peer: string): boolean => (this.covered.get(peer) ?? -Infinity) >= since;
    for (const peer of peers) this.requestSync(peer, true);
    await waitUntil(
      () => peers.every(covered),
      (wake) => this.onCovered(wake),
      REFRESH_WAIT_MS,
    );
    return peers.filter(covered);
  }

  private onSyncStream(stream: Stream, peerId: string): void {
    if (!this.running || this.queuedServes.length >= MAX_QUEUED_SERVES) {
      stream.abort(new Error(this.running ? 'ledger sync busy' : 'ledger stopped'));
      return;
    }
    if (this.serving >= MAX_CONCURRENT_SERVES) {
      this.queuedServes.push(() => this.onSyncStream(stream, peerId));
      return;
    }
    this.serving += 1;
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.options.syncTimeoutMs)]);
    this.counters.syncsServed += 1;
    serveSync(
      stream,
      peerId,
      {
        vector: () => this.vector().vector,
        digest: () => this.vector().digest,
        readRange: (author, from, to, limit) => this.readCommitted(author, from, to, limit),
        ingest: async (entries) => {
          await this.ingestFromSync(entries);
        },
        // The peer holds entries we lack (a joiner's own, written before it had any peer):
        // fetched at once, not behind queued catch-up pulls, since others wait on them too.
        remoteVector: (peer) => this.requestSync(peer, true),
        refresh: (peer) => this.pullFromAllBut(peer),
        maxEntries: this.options.maxEntriesPerSync,
      },
      signal,
    ).then(
      (sent) => {
        this.serveDone();
        this.counters.entriesServed += sent;
      },
      (error: unknown) => {
        this.serveDone();
        stream.abort(error instanceof Error ? error : new Error(String(error)));
        if (this.running)
          this.log.debug({ peer: peerId, err: describeError(error) }, 'ledger sync request failed');
      },
    );
  }

  private serveDone(): void {
    this.serving -= 1;
    this.queuedServes.shift()?.();
  }

  private vector(): { vector: VersionVector; digest: string } {
    if (this.cachedVector === undefined) {
      const vector = vectorOf(this.heads);
      this.cachedVector = { vector, digest: vectorDigest(vector) };
    }
    return this.cachedVector;
  }

  private scheduleAntiEntropy(): void {
    const period = this.options.syncIntervalMs;
    if (period <= 0) return;
    const delay = period * (0.8 + 0.4 * this.options.random());
    this.schedule(delay, () => {
      this.syncWithRandomPeer();
      this.scheduleAntiEntropy();
    });
  }

  /**
   * At once, and again ADMISSION_RESYNC_MS later: until gossipsub grafts a new peer into the
   * forwarding meshes (at their next heartbeats), gossip from others may pass it by, and the
   * next anti-entropy round is up to 12 s away.
   */
  private syncWithNewPeer(peerId: string): void {
    this.requestSync(peerId);
    this.schedule(ADMISSION_RESYNC_MS, () => {
      if (this.options.transport.admittedPeers().includes(peerId)) this.requestSync(peerId);
    });
  }

  private syncWithRandomPeer(): void {
    const peers = this.options.transport.admittedPeers();
    if (peers.length > 0) this.requestSync(peers[Math.floor(this.options.random() * peers.length)]!);
  }

  private scheduleCompaction(): void {
    const period = this.options.compactIntervalMs;
    if (period <= 0) return;
    this.schedule(period, () => {
      this.compact().then(
        () => this.scheduleCompaction(),
        (error: unknown) => this.log.warn({ err: describeError(error) }, 'ledger compaction failed'),
      );
    });
  }

  private schedule(ms: number, task: () => void): void {
    if (!this.running) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.running) task();
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  // ---- maintenance -----------------------------------------------------------------------

  /** Deletes superseded entries (policy and limits in compaction.ts). Returns how many. */
  async compact(): Promise<number> {
    this.assertRunning();
    return this.mutex.run(async () => {
      await this.commits.idle();
      const victims: { author: string; seq: number; bucket: string; key: string }[] = [];
      for await (const stored of this.store.all()) {
        const entry = JSON.parse(stored.encoded) as Entry;
        if (!isKept(entry, hashEncoded(stored.encoded), this.heads, this.state))
          victims.push({ author: entry.author, seq: entry.seq, bucket: entry.bucket, key: entry.key });
      }
      if (victims.length > 0) await this.store.prune(victims);
      // Pruned entries must not be served from memory either.
      for (const victim of victims) this.recent.forget(victim.author, victim.seq);
      this.entryCount -= victims.length;
      this.counters.compacted += victims.length;
      if (victims.length > 0) this.log.info({ pruned: victims.length }, 'ledger compacted');
      return victims.length;
    });
  }

  /**
   * Re-checks every stored entry: exact canonical form, write rule, signature and chain — with
   * the same run-based check as received entries (a run of linked entries is vouched for by its
   * last signature). Holes left by compaction are counted, not failed.
   */
  async verify(): Promise<VerifyReport> {
    this.assertRunning();
    await this.commits.idle();
    const report: VerifyReport = { entries: 0, authors: 0, valid: 0, invalid: 0, holes: 0 };
    let author: string | undefined;
    let head: FeedHead | undefined;
    let chunk: Candidate[] = [];
    const flush = (): void => {
      const result = checkFeed(head, chunk, true, this.verifier);
      report.valid += result.accepted.length;
      report.invalid += result.rejected.length + result.deferred.length;
      let previous = head?.seq ?? 0;
      for (const { entry } of result.accepted) {
        if (entry.seq !== previous + 1) report.holes += 1;
        previous = entry.seq;
      }
      const last = result.accepted[result.accepted.length - 1];
      if (last !== undefined) head = { seq: last.entry.seq, hash: last.hash, lamport: last.entry.lamport };
      chunk = [];
    };
    for await (const stored of this.store.all()) {
      report.entries += 1;
      if (stored.author !== author) {
        flush();
        author = stored.author;
        head = undefined;
        report.authors += 1;
      }
      const parsed = parseEntry(JSON.parse(stored.encoded));
      const sound =
        parsed.ok &&
        parsed.encoded === stored.encoded &&
        parsed.entry.author === stored.author &&
        parsed.entry.seq === stored.seq &&
        checkWrite(parsed.entry.author, parsed.entry.bucket, parsed.entry.key) === undefined;
      if (sound)
        chunk.push({ entry: parsed.entry, encoded: parsed.encoded, hash: hashEncoded(parsed.encoded) });
      else report.invalid += 1;
      if (chunk.length >= 5_000) {
        flush();
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    flush();
    return report;
  }

  private assertRunning(): void {
    if (!this.running)
      throw new KairosError('LEDGER_NOT_RUNNING', 'the ledger is not running', {
        exitCode: ExitCode.unavailable,
      });
  }
}

function newCounters(): Omit<
  LedgerStats,
  'selfId' | 'entries' | 'authors' | 'keys' | 'tombstones' | 'lamport' | 'ownSeq'
> {
  return {
    received: 0,
    accepted: 0,
    duplicates: 0,
    deferred: 0,
    rejected: newRejectCounts(),
    gossipSent: 0,
    gossipReceived: 0,
    gossipDropped: 0,
    syncsStarted: 0,
    syncsFailed: 0,
    syncsServed: 0,
    entriesServed: 0,
    compacted: 0,
  };
}

/** A gossip message: entries, already encoded. */
function entriesMessage(encoded: string[]): string {
  return `{"t":"entries","entries":[${encoded.join(',')}]}`;
}
