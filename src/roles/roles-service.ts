import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import { describeError, ExitCode, KairosError } from '../shared/errors.ts';
import { evaluate, initiationDelayMs, type ElectionStatus } from './election.ts';
import { compareByRank } from './hash.ts';
import { K3sDriver, type K3sDriverPort, type K3sStatus } from './k3s-driver.ts';
import { missingForJoin, rewriteKubeconfig, serverUrl, type K3sRole, type K3sSpec } from './k3s-plan.ts';
import {
  BUCKETS,
  systemClock,
  type Clock,
  type KvStore,
  type Member,
  type Membership,
  type MeshRequests,
} from './ports.ts';
import {
  addressFromMultiaddrs,
  isRoleMode,
  parseJoin,
  parseNodeAddresses,
  parseOverride,
  parseVoteRecord,
} from './records.ts';
import type { Decision, RoleMode, VoteRecord } from './types.ts';

export type RolesConfig = Pick<
  Config,
  | 'role'
  | 'minimumNodes'
  | 'autoRoles'
  | 'masters'
  | 'masterGraceMs'
  | 'externalDb'
  | 'k3s'
  | 'k3sAgent'
  | 'k3sService'
  | 'k3sBin'
  | 'clusterReadyHook'
  | 'dataDir'
> & { vpn: Pick<Config['vpn'], 'useForK3s' | 'iface'> };

export interface RolesServiceOptions {
  self: Member;
  config: RolesConfig;
  kv: KvStore;
  membership: Membership;
  /** Serves and fetches the kubeconfig; without it `kubeconfig()` only works on a master. */
  mesh?: MeshRequests;
  /** The k3s driver; default a K3sDriver from the config; `null` runs the election only. */
  driver?: K3sDriverPort | null;
  /** Path prefix for the default driver's system paths (tests). */
  root?: string;
  log: Logger;
  clock?: Clock;
  /**
   * The bootstrap vote waits this long after `minimumNodes` first became alive, so the first
   * view carries the nodes that booted together (default 500 ms).
   */
  settleMs?: number;
  /**
   * How long a ledger record takes to reach every node (gossip, or a new peer's first sync):
   * unless every alive peer is covered by a pull first, the init master's bootstrap proposal
   * waits until every elector's record has been visible this long (default 1000 ms; see
   * `ElectionInput.syncWindowMs`).
   */
  syncWindowMs?: number;
  /** Re-evaluation period, for grace timers (default 1000 ms). */
  tickMs?: number;
  /** Committee member i waits i × this before proposing a change of its own (default 250 ms). */
  staggerMs?: number;
  /** Readiness poll period of the default driver (default 2000 ms). */
  readyPollMs?: number;
}

export type NodeRole = 'init-master' | 'master' | 'worker' | 'none' | 'unassigned';

export interface RolesNode {
  peerId: string;
  name: string;
  role: NodeRole;
  mode?: RoleMode;
  override?: RoleMode;
  alive: boolean;
  state: 'alive' | 'down' | 'lost';
  /** The epoch of this node's latest vote (0: not voted yet). */
  votedEpoch?: number;
}

export interface RolesSnapshot {
  self: Member;
  phase: ElectionStatus['phase'];
  message: string;
  decision?: {
    epoch: number;
    hash: string;
    /** When this node came to hold this decision (epoch ms): committed, or read at start. */
    heldSince: number;
    initMaster: Member;
    initMasterRetired: boolean;
    masterTarget: number;
    masters: Member[];
    workers: Member[];
    committee: Member[];
  };
  nodes: RolesNode[];
  k3s?: K3sStatus & { waitingFor?: string };
}

interface KubeconfigRequest {
  type: 'kubeconfig';
}
type KubeconfigResponse = { ok: true; kubeconfig: string } | { ok: false; error: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Ties the pure election to the ledger and presence, turns the committed role into k3s, and
 * answers `roles`, `role set` and `kubeconfig`. Everything it decides is re-read from the
 * ledger, so a restart (or a power cycle of the whole cluster) finds the same roles.
 */
export class RolesService {
  private readonly options: RolesServiceOptions;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly driver: K3sDriverPort | null;
  private known: Decision | undefined;
  /** When this node came to hold the decision it knows (clock ms). */
  private knownSince = 0;
  private status: ElectionStatus = { phase: 'waiting-for-nodes', message: 'starting' };
  private readonly lastSeen = new Map<string, number>();
  /** When this node first heard each peer alive, and its name then. */
  private readonly firstHeard = new Map<string, { at: number; name: string }>();
  /** When this node first held each author's vote record. */
  private readonly recordSince = new Map<string, number>();
  /** When each pull request (source, and whether a refresh) was last made. */
  private readonly pulledAt = new Map<string, number>();
  private startedAt = 0;
  private quorumSince: number | undefined;
  private initiation: { hash: string; since: number } | undefined;
  private k3sWaiting: string | undefined;
  private publishedToken: string | undefined;
  private readonly cleanups: Array<() => void> = [];
  private timers = new Set<NodeJS.Timeout>();
  private running = false;
  private busy: Promise<void> | undefined;
  private dirty = false;

  constructor(options: RolesServiceOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.log = options.log;
    this.driver =
      options.driver === undefined
        ? new K3sDriver({
            settings: options.config,
            log: options.log,
            ...(options.root === undefined ? {} : { root: options.root }),
            logDir: options.config.dataDir,
            ...(options.readyPollMs === undefined ? {} : { readyPollMs: options.readyPollMs }),
            onReady: () => this.schedule(),
          })
        : options.driver;
  }

  /** The mode this node publishes: `auto` with `p2p.auto.enable: false` waits for an operator. */
  get mode(): RoleMode {
    const { role, autoRoles } = this.options.config;
    return role === 'auto' && !autoRoles ? 'none' : role;
  }

  get decision(): Decision | undefined {
    return this.known;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.startedAt = this.clock.now();
    const relevant = new Set<string>(Object.values(BUCKETS));
    this.cleanups.push(
      this.options.kv.subscribe((change) => {
        if (relevant.has(change.bucket)) this.schedule();
      }),
      this.options.membership.onChange(() => this.schedule()),
      this.options.kv.onCovered?.(() => this.schedule()) ?? (() => undefined),
    );
    if (this.options.mesh !== undefined)
      this.cleanups.push(this.options.mesh.serve((from, request) => this.serve(from, request)));
    const tick = setInterval(() => this.schedule(), this.options.tickMs ?? 1000);
    this.cleanups.push(() => clearInterval(tick));
    this.schedule();
    await this.settle();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await this.busy;
    await this.driver?.stop();
  }

  /** Resolves once no evaluation is running or queued (tests use it to wait for quiet). */
  async settle(): Promise<void> {
    while (this.busy !== undefined) await this.busy;
  }

  /** Asks for an evaluation soon; calls coalesce while one runs. */
  schedule(): void {
    if (!this.running) return;
    this.dirty = true;
    if (this.busy !== undefined) return;
    this.busy = this.loop().finally(() => {
      this.busy = undefined;
    });
  }

  private scheduleAt(time: number): void {
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        this.schedule();
      },
      Math.max(0, time - this.clock.now()),
    );
    this.timers.add(timer);
  }

  private async loop(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    while (this.dirty && this.running) {
      this.dirty = false;
      try {
        await this.step();
      } catch (error) {
        this.log.error({ err: describeError(error) }, 'roles evaluation failed');
      }
    }
  }

  private records(): Map<string, VoteRecord> {
    const records = new Map<string, VoteRecord>();
    for (const entry of this.options.kv.list(BUCKETS.votes)) {
      const record = parseVoteRecord(entry.value);
      if (record === undefined) this.log.debug({ author: entry.author }, 'ignoring an invalid vote record');
      else records.set(entry.key, record);
    }
    return records;
  }

  private overrides(): Map<string, RoleMode> {
    const overrides = new Map<string, RoleMode>();
    for (const entry of this.options.kv.list(BUCKETS.override)) {
      const override = parseOverride(entry.value);
      if (override !== undefined) overrides.set(entry.key, override.role);
    }
    return overrides;
  }

  private unseenForMs(peerId: string): number {
    return this.clock.now() - (this.lastSeen.get(peerId) ?? this.startedAt);
  }

  private async step(): Promise<void> {
    const now = this.clock.now();
    const { self, config, kv } = this.options;
    const alive = this.options.membership.alive();
    for (const member of alive) {
      this.lastSeen.set(member.peerId, now);
      if (!this.firstHeard.has(member.peerId))
        this.firstHeard.set(member.peerId, { at: now, name: member.name });
    }
    if (alive.length < config.minimumNodes) this.quorumSince = undefined;
    else this.quorumSince ??= now;
    const settleMs = this.options.settleMs ?? 500;
    const settled = this.quorumSince !== undefined && now - this.quorumSince >= settleMs;
    const records = this.records();
    for (const peerId of records.keys()) if (!this.recordSince.has(peerId)) this.recordSince.set(peerId, now);
    const outcome = evaluate({
      self: self.peerId,
      selfName: self.name,
      selfMode: this.mode,
      settings: {
        minimumNodes: config.minimumNodes,
        masterTarget: config.masters,
        masterGraceMs: config.masterGraceMs,
      },
      records,
      overrides: this.overrides(),
      alive,
      unseenForMs: (peerId) => this.unseenForMs(peerId),
      recordKnownForMs: (peerId) => now - (this.recordSince.get(peerId) ?? now),
      coveredForMs: (peerId) => now - (kv.coveredSince?.(peerId) ?? -Infinity),
      heardForMs: (peerId) => now - (this.firstHeard.get(peerId)?.at ?? now),
      syncWindowMs: this.options.syncWindowMs ?? 1000,
      now,
      unrecorded: [...this.firstHeard]
        .filter(([peerId]) => !records.has(peerId))
        .map(([peerId, heard]) => ({ peerId, name: heard.name, heardForMs: now - heard.at })),
      settled,
      known: this.known,
    });
    if (outcome.committed !== undefined && outcome.committed.hash !== this.known?.hash) {
      this.log.info(
        { epoch: outcome.committed.proposal.epoch, hash: outcome.committed.hash.slice(0, 12) },
        'roles decision committed',
      );
      this.knownSince = now;
    }
    this.known = outcome.committed;
    this.status = outcome.status;
    if (!settled && this.quorumSince !== undefined) this.scheduleAt(this.quorumSince + settleMs);
    if (outcome.recheckInMs !== undefined) this.scheduleAt(now + outcome.recheckInMs);
    if (outcome.pull !== undefined && kv.requestSync !== undefined) {
      // Records of alive peers still missing, and (init master) a pull from every alive peer
      // started after the electors' records were all here, which lets it propose without
      // waiting out the sync window (`onCovered` wakes it).
      // Through the member we reach the peer by (in a forming mesh most members are seen
      // through another, see the mesh's dial-policy.ts): a record can come from any member that
      // holds it, and that member covers the peer once it pulled from it (refresh). One request
      // per source and kind: a plain pull through a member covers none of the peers behind it.
      const { membership } = this.options;
      for (const peerId of outcome.pull.peers) {
        const source = membership.pullSourceFor?.(peerId) ?? peerId;
        const refresh = !outcome.pull.anyHolder && source !== peerId;
        const request = `${source}${refresh ? ' refresh' : ''}`;
        if (now - (this.pulledAt.get(request) ?? -Infinity) > outcome.pull.withinMs) {
          this.pulledAt.set(request, now);
          kv.requestSync(source, true, refresh);
        }
      }
    }

    let write = outcome.write;
    const previousEpoch = records.get(self.peerId)?.epoch ?? 0;
    if (write !== undefined && write.epoch > previousEpoch && write.epoch >= 2 && outcome.adopted !== true) {
      // Proposing a change of our own: committee members take turns, so one usually proposes.
      const delay = initiationDelayMs(this.known, self.peerId, this.options.staggerMs ?? 250);
      const hash = write.hash ?? '';
      const initiation: { hash: string; since: number } =
        this.initiation !== undefined && this.initiation.hash === hash
          ? this.initiation
          : { hash, since: now };
      this.initiation = initiation;
      if (now - initiation.since < delay) {
        this.scheduleAt(initiation.since + delay);
        write = undefined;
      }
    }
    if (write !== undefined) {
      this.initiation = undefined;
      await kv.put(BUCKETS.votes, self.peerId, write);
      if (write.epoch > previousEpoch)
        this.log.info({ epoch: write.epoch, adopted: outcome.adopted }, 'voted');
      this.dirty = true;
    }
    await this.applyK3s();
  }

  private addressOf(peerId: string): string | undefined {
    return (
      this.options.membership.overlayIp(peerId) ??
      addressFromMultiaddrs(parseNodeAddresses(this.options.kv.get(BUCKETS.nodes, peerId)?.value))
    );
  }

  private roleOf(decision: Decision, peerId: string): NodeRole {
    const member = decision.proposal.members.find((candidate) => candidate.peerId === peerId);
    if (member === undefined) return 'unassigned';
    if (
      member.role === 'master' &&
      decision.proposal.initMaster === peerId &&
      !decision.proposal.initMasterRetired
    )
      return 'init-master';
    return member.role;
  }

  /** The master a joiner talks to: the init master while it serves, else a surviving master. */
  private joinServer(decision: Decision): string | undefined {
    const self = this.options.self.peerId;
    const aliveIds = new Set(this.options.membership.alive().map((member) => member.peerId));
    const masters = decision.proposal.members
      .filter((member) => member.role === 'master' && member.peerId !== self)
      .map((member) => member.peerId)
      .sort(compareByRank);
    const init = decision.proposal.initMaster;
    const ordered = [
      ...(masters.includes(init) && aliveIds.has(init) ? [init] : []),
      ...masters.filter((peerId) => aliveIds.has(peerId)),
      ...masters,
    ];
    for (const peerId of ordered) {
      const address = this.addressOf(peerId);
      if (address !== undefined) return serverUrl(address);
    }
    return undefined;
  }

  /** The cluster token a master published (the init master's first). */
  private joinToken(decision: Decision): string | undefined {
    const masters = new Set([
      decision.proposal.initMaster,
      ...decision.proposal.members
        .filter((member) => member.role === 'master')
        .map((member) => member.peerId),
    ]);
    const entries = this.options.kv
      .list(BUCKETS.join)
      .filter((entry) => masters.has(entry.key))
      .sort(
        (a, b) =>
          Number(b.key === decision.proposal.initMaster) - Number(a.key === decision.proposal.initMaster),
      );
    for (const entry of entries) {
      const join = parseJoin(entry.value);
      if (join !== undefined) return join.token;
    }
    return undefined;
  }

  private async applyK3s(): Promise<void> {
    const driver = this.driver;
    const decision = this.known;
    if (driver === null || decision === undefined) return;
    const self = this.options.self.peerId;
    const role = this.roleOf(decision, self);
    if (role === 'unassigned' || role === 'none') {
      if (driver.status().state !== 'idle') await driver.clear();
      this.k3sWaiting = role === 'unassigned' ? 'a role for this node' : undefined;
      return;
    }
    const config = this.options.config;
    const k3sRole: K3sRole = role;
    const overlay = config.vpn.useForK3s ? this.options.membership.overlayIp(self) : undefined;
    const base: Omit<K3sSpec, 'user'> = {
      role: k3sRole,
      ...(k3sRole === 'init-master'
        ? {}
        : { serverUrl: this.joinServer(decision), token: this.joinToken(decision) }),
      ...(overlay === undefined ? {} : { nodeIp: overlay, flannelIface: config.vpn.iface }),
      ...(config.externalDb === undefined ? {} : { externalDb: config.externalDb }),
    };
    this.k3sWaiting = missingForJoin(base);
    if (this.k3sWaiting !== undefined) return;
    await driver.apply(
      { ...base, user: k3sRole === 'worker' ? config.k3sAgent : config.k3s },
      decision.proposal.epoch,
    );
    if (k3sRole !== 'worker') await this.publishToken(driver, decision.proposal.epoch);
  }

  /** A master shares the cluster's join token through the ledger (members only), never logs it. */
  private async publishToken(driver: K3sDriverPort, epoch: number): Promise<void> {
    const token = await driver.readNodeToken();
    if (token === undefined || token === this.publishedToken) return;
    const self = this.options.self.peerId;
    if (parseJoin(this.options.kv.get(BUCKETS.join, self)?.value)?.token !== token)
      await this.options.kv.put(BUCKETS.join, self, { token, epoch });
    this.publishedToken = token;
    this.log.info('published the k3s join token to the ledger');
  }

  snapshot(): RolesSnapshot {
    const decision = this.known;
    const records = this.records();
    const overrides = this.overrides();
    const alive = this.options.membership.alive();
    const aliveIds = new Set(alive.map((member) => member.peerId));
    const names = new Map<string, string>();
    for (const [peerId, record] of records) names.set(peerId, record.name);
    for (const member of decision?.proposal.members ?? []) names.set(member.peerId, member.name);
    for (const member of alive) names.set(member.peerId, member.name);
    const member = (peerId: string): Member => ({ peerId, name: names.get(peerId) ?? peerId });
    const nodes: RolesNode[] = [...names.keys()].sort().map((peerId) => {
      const record = records.get(peerId);
      const mode = peerId === this.options.self.peerId ? this.mode : record?.mode;
      const override = overrides.get(peerId);
      const isAlive = aliveIds.has(peerId);
      let role: NodeRole = decision === undefined ? 'unassigned' : this.roleOf(decision, peerId);
      if (role === 'unassigned' && (override ?? mode) === 'none') role = 'none';
      return {
        ...member(peerId),
        role,
        ...(mode === undefined ? {} : { mode }),
        ...(override === undefined || override === 'auto' ? {} : { override }),
        alive: isAlive,
        state: isAlive
          ? 'alive'
          : this.unseenForMs(peerId) > this.options.config.masterGraceMs
            ? 'lost'
            : 'down',
        votedEpoch: record?.epoch ?? 0,
      };
    });
    const proposal = decision?.proposal;
    return {
      self: this.options.self,
      phase: this.status.phase,
      message: this.status.message,
      ...(proposal === undefined || decision === undefined
        ? {}
        : {
            decision: {
              epoch: proposal.epoch,
              hash: decision.hash,
              heldSince: this.knownSince,
              initMaster: member(proposal.initMaster),
              initMasterRetired: proposal.initMasterRetired,
              masterTarget: proposal.masterTarget,
              masters: proposal.members.filter((m) => m.role === 'master').map((m) => member(m.peerId)),
              workers: proposal.members.filter((m) => m.role === 'worker').map((m) => member(m.peerId)),
              committee: proposal.committee.map(member),
            },
          }),
      nodes,
      ...(this.driver === null
        ? {}
        : {
            k3s: {
              ...this.driver.status(),
              ...(this.k3sWaiting === undefined ? {} : { waitingFor: this.k3sWaiting }),
            },
          }),
    };
  }

  /** `role set NODE ROLE`: NODE is a peer id or a name; `auto` clears an earlier override. */
  async setRole(node: string, role: string): Promise<{ peerId: string; name: string; role: RoleMode }> {
    if (!isRoleMode(role))
      throw new KairosError('USAGE', `unknown role "${role}": expected one of auto, master, worker, none`, {
        exitCode: ExitCode.usage,
      });
    const nodes = this.snapshot().nodes;
    const byId = nodes.find((candidate) => candidate.peerId === node);
    const byName = nodes.filter((candidate) => candidate.name === node);
    if (byId === undefined && byName.length > 1)
      throw new KairosError(
        'ROLES_AMBIGUOUS_NODE',
        `${byName.length} nodes are named "${node}": give the peer id`,
        {
          exitCode: ExitCode.usage,
        },
      );
    const target = byId ?? byName[0];
    if (target === undefined)
      throw new KairosError('ROLES_UNKNOWN_NODE', `no node "${node}" is known (see \`kairos-mesh roles\`)`, {
        exitCode: ExitCode.dataErr,
      });
    await this.options.kv.put(BUCKETS.override, target.peerId, {
      role,
      by: this.options.self.peerId,
      at: this.clock.now(),
    });
    this.schedule();
    return { peerId: target.peerId, name: target.name, role };
  }

  private async localKubeconfig(): Promise<string | undefined> {
    const decision = this.known;
    const self = this.options.self.peerId;
    if (this.driver === null || decision === undefined) return undefined;
    const role = this.roleOf(decision, self);
    if (role !== 'master' && role !== 'init-master') return undefined;
    const kubeconfig = await this.driver.readKubeconfig();
    if (kubeconfig === undefined) return undefined;
    return rewriteKubeconfig(kubeconfig, this.addressOf(self) ?? '127.0.0.1');
  }

  private async serve(from: string, request: Uint8Array): Promise<Uint8Array> {
    let response: KubeconfigResponse;
    try {
      const parsed = JSON.parse(decoder.decode(request)) as Partial<KubeconfigRequest>;
      if (parsed.type !== 'kubeconfig') response = { ok: false, error: 'unknown request' };
      else {
        const kubeconfig = await this.localKubeconfig();
        response =
          kubeconfig === undefined
            ? { ok: false, error: 'this node is not a running master' }
            : { ok: true, kubeconfig };
        this.log.info({ from, served: response.ok }, 'kubeconfig requested');
      }
    } catch {
      response = { ok: false, error: 'bad request' };
    }
    return encoder.encode(JSON.stringify(response));
  }

  /** The admin kubeconfig from this node if it is a master, else fetched from a master over the mesh. */
  async kubeconfig(signal?: AbortSignal): Promise<{ kubeconfig: string; from: Member }> {
    const decision = this.known;
    if (decision === undefined)
      throw new KairosError('ROLES_NOT_DECIDED', `no roles are decided yet (${this.status.message})`, {
        exitCode: ExitCode.tempFail,
      });
    const self = this.options.self;
    const local = await this.localKubeconfig();
    if (local !== undefined) return { kubeconfig: local, from: self };
    const aliveIds = new Set(this.options.membership.alive().map((member) => member.peerId));
    const masters = decision.proposal.members
      .filter(
        (member) => member.role === 'master' && member.peerId !== self.peerId && aliveIds.has(member.peerId),
      )
      .sort((a, b) => compareByRank(a.peerId, b.peerId));
    const errors: string[] = [];
    for (const master of masters) {
      if (this.options.mesh === undefined) break;
      try {
        const timeout = AbortSignal.timeout(10_000);
        const bytes = await this.options.mesh.fetchFromPeer(
          master.peerId,
          encoder.encode(JSON.stringify({ type: 'kubeconfig' } satisfies KubeconfigRequest)),
          signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
        );
        const response = JSON.parse(decoder.decode(bytes)) as KubeconfigResponse;
        if (response.ok)
          return { kubeconfig: response.kubeconfig, from: { peerId: master.peerId, name: master.name } };
        errors.push(`${master.name}: ${response.error}`);
      } catch (error) {
        errors.push(`${master.name}: ${describeError(error)}`);
      }
    }
    throw new KairosError(
      'KUBECONFIG_UNAVAILABLE',
      masters.length === 0
        ? 'no master is alive to give a kubeconfig'
        : `no master gave a kubeconfig (${errors.join('; ')})`,
      { exitCode: ExitCode.unavailable },
    );
  }
}
