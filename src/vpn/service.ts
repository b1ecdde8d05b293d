import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import { describeError } from '../shared/errors.ts';
import { parseCidr, type Ipv4Cidr } from './cidr.ts';
import { candidateEndpoints, orderForDial } from './endpoints.ts';
import { loadOrCreateWgKey, type WgKeyPair } from './keys.ts';
import { chooseOwnIp, winningClaims, type IpClaim } from './overlay-ip.ts';
import { DEFAULT_PATH_SETTINGS, pathName, stepPath, type PathSettings, type PathState } from './path.ts';
import type { RelayTransport, VpnKv, VpnMembership } from './ports.ts';
import { parseVpnRecord, sameRecord, VPN_BUCKET, type VpnRecord } from './record.ts';
import { RelayBridges } from './relay.ts';
import type { WgDump } from './wg-dump.ts';
import { WgInterface } from './wg-interface.ts';
import { planWg, type DesiredPeer } from './wg-plan.ts';

export type VpnSettings = Pick<
  Config['vpn'],
  'cidr' | 'iface' | 'backend' | 'endpoints' | 'listenPort' | 'mtu' | 'keep' | 'peerGraceMs'
>;

export interface VpnServiceOptions {
  /** This node's libp2p peer id (the key of its `vpn/<peerId>` record). */
  selfId: string;
  /** Holds `wireguard.key` (0600). */
  dataDir: string;
  settings: VpnSettings;
  kv: VpnKv;
  membership: VpnMembership;
  /** Streams for the relay path; without it peers are direct-only. */
  relay?: RelayTransport | undefined;
  /** The module's logger (the daemon passes a child with `module: 'vpn'`). */
  log: Logger;
  /** Shown to operators in peers' status. */
  name?: string | undefined;
  now?: () => number;
  reconcileIntervalMs?: number;
  path?: Partial<PathSettings>;
  /** Publish loopback endpoints (only for single-host tests). */
  includeLoopback?: boolean;
}

export interface VpnPeerStatus {
  peerId: string;
  name?: string | undefined;
  overlayIp: string;
  publicKey: string;
  endpoint: string | null;
  path: 'direct' | 'relay';
  /** False while a direct attempt has not completed a handshake yet. */
  established: boolean;
  /** Epoch ms of the latest handshake, null when none. */
  lastHandshake: number | null;
  rxBytes: number;
  txBytes: number;
}

export interface VpnStatus {
  iface: string;
  backend: 'kernel' | 'userspace' | null;
  cidr: string;
  overlayIp: string | null;
  publicKey: string | null;
  listenPort: number;
  endpoints: string[];
  peers: VpnPeerStatus[];
}

/** Every peer gets a keepalive: it keeps NAT mappings open and starts the first handshake at once. */
const KEEPALIVE_SECONDS = 25;

/**
 * Keeps the local WireGuard interface in line with the `vpn` bucket of the ledger: claims and
 * publishes this node's overlay address and endpoints, adds/updates/removes peers, and chooses
 * per peer between direct UDP and the relay stream.
 */
export class VpnService {
  private readonly options: VpnServiceOptions;
  private readonly log: Logger;
  private readonly network: Ipv4Cidr;
  private readonly iface: WgInterface;
  private readonly now: () => number;
  private readonly pathSettings: PathSettings;
  private keys: WgKeyPair | undefined;
  private bridges: RelayBridges | undefined;
  private claim: IpClaim | undefined;
  private published: VpnRecord | undefined;
  private records = new Map<string, VpnRecord>();
  private winners = new Map<string, string>();
  private readonly paths = new Map<string, PathState>();
  private readonly lastEndpoint = new Map<string, string>();
  private readonly lastAlive = new Map<string, number>();
  private lastDump: WgDump | undefined;
  /** The address currently on the interface (undefined after the interface was recreated). */
  private addressOnIface: string | undefined;
  private rebuild = false;
  private startedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  private readonly cleanups: Array<() => void> = [];

  constructor(options: VpnServiceOptions) {
    this.options = options;
    this.log = options.log;
    this.network = parseCidr(options.settings.cidr);
    this.iface = new WgInterface(options.settings.iface, options.settings.backend, this.log);
    this.now = options.now ?? Date.now;
    this.pathSettings = {
      ...DEFAULT_PATH_SETTINGS,
      forceRelay: process.env['KAIROS_MESH_VPN_FORCE_RELAY'] === '1',
      ...options.path,
      relayAvailable: options.relay !== undefined,
    };
  }

  async start(): Promise<void> {
    const { settings } = this.options;
    await this.iface.preflight();
    this.keys = await loadOrCreateWgKey(this.options.dataDir);
    const backend = await this.iface.ensure();
    await this.iface.configure(this.keys.privateKeyFile, settings.listenPort, settings.mtu);
    if (this.options.relay !== undefined) {
      this.bridges = new RelayBridges({
        transport: this.options.relay,
        selfId: this.options.selfId,
        wgPort: settings.listenPort,
        log: this.log,
      });
      await this.bridges.start();
    }
    this.stopped = false;
    this.startedAt = this.now();
    await this.reconcile();
    this.cleanups.push(
      this.options.kv.subscribe((change) => {
        if (change.bucket === VPN_BUCKET) this.schedule();
      }),
    );
    const offMembership = this.options.membership.onChange(() => this.schedule());
    if (typeof offMembership === 'function') this.cleanups.push(offMembership);
    this.timer = setInterval(() => this.schedule(), this.options.reconcileIntervalMs ?? 1_000);
    this.log.info(
      { iface: settings.iface, backend, overlayIp: this.claim?.overlayIp, publicKey: this.keys.publicKey },
      'overlay up',
    );
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    await this.running;
    await this.bridges?.stop();
    if (!this.options.settings.keep) await this.iface.remove();
  }

  overlayIp(): string | undefined {
    return this.claim?.overlayIp;
  }

  /** A peer's overlay address, when it holds one (a claim that lost a conflict does not count). */
  overlayIpOf(peerId: string): string | undefined {
    if (peerId === this.options.selfId) return this.overlayIp();
    return this.winners.get(peerId);
  }

  status(): VpnStatus {
    const dumpPeers = new Map((this.lastDump?.peers ?? []).map((peer) => [peer.publicKey, peer]));
    const peers: VpnPeerStatus[] = [];
    for (const [peerId, overlayIp] of this.winners) {
      const record = this.records.get(peerId);
      const state = this.paths.get(peerId);
      if (record === undefined || state === undefined) continue;
      const wg = dumpPeers.get(record.publicKey);
      peers.push({
        peerId,
        name: record.name,
        overlayIp,
        publicKey: record.publicKey,
        endpoint: wg?.endpoint ?? null,
        path: pathName(state),
        established: state.kind !== 'trying',
        lastHandshake: wg === undefined || wg.latestHandshakeMs === 0 ? null : wg.latestHandshakeMs,
        rxBytes: wg?.rxBytes ?? 0,
        txBytes: wg?.txBytes ?? 0,
      });
    }
    return {
      iface: this.options.settings.iface,
      backend: this.iface.backend ?? null,
      cidr: this.options.settings.cidr,
      overlayIp: this.claim?.overlayIp ?? null,
      publicKey: this.keys?.publicKey ?? null,
      listenPort: this.options.settings.listenPort,
      endpoints: this.published?.endpoints ?? [],
      peers: peers.sort((a, b) => a.overlayIp.localeCompare(b.overlayIp, 'en', { numeric: true })),
    };
  }

  /** Runs a reconcile now, or once more right after the one in flight. */
  private schedule(): void {
    if (this.stopped) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.running = this.reconcile()
      .catch(async (error: unknown) => {
        this.log.warn({ err: describeError(error) }, 'overlay reconcile failed');
        // Someone deleted the interface (or wireguard-go died): build it again next round.
        if (!this.stopped && !(await this.iface.exists().catch(() => true))) this.rebuild = true;
      })
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.schedule();
        }
      });
  }

  private async reconcile(): Promise<void> {
    const keys = this.keys;
    if (keys === undefined) return;
    const { selfId, settings } = this.options;
    const now = this.now();
    if (this.rebuild) {
      this.log.warn({ iface: settings.iface }, 'overlay interface missing: recreating it');
      await this.iface.ensure();
      await this.iface.configure(keys.privateKeyFile, settings.listenPort, settings.mtu);
      this.addressOnIface = undefined;
      this.rebuild = false;
    }
    await this.readRecords();
    const own = this.records.get(selfId);

    // 1. This node's address: keep the previous claim unless an older one takes it.
    const others = [...this.records]
      .filter(([peerId]) => peerId !== selfId)
      .map(([peerId, record]) => ({ peerId, overlayIp: record.overlayIp, since: record.since }));
    const previous = this.claim ?? (own === undefined ? undefined : { peerId: selfId, ...own });
    const claim = chooseOwnIp({ network: this.network, selfId, others, previous, now });
    if (this.claim !== undefined && claim.overlayIp !== this.claim.overlayIp)
      this.log.warn(
        { from: this.claim.overlayIp, to: claim.overlayIp },
        'overlay address taken by an older claim',
      );
    if (claim.overlayIp !== this.addressOnIface) {
      await this.iface.setAddress(claim.overlayIp, this.network.prefix);
      this.addressOnIface = claim.overlayIp;
    }
    this.claim = claim;

    // 2. Publish what peers need, when it changed.
    const record: VpnRecord = {
      publicKey: keys.publicKey,
      overlayIp: claim.overlayIp,
      since: claim.since,
      endpoints: candidateEndpoints({
        configured: settings.endpoints,
        interfaces: networkInterfaces(),
        observed: this.options.membership.observedAddresses(),
        listenPort: settings.listenPort,
        overlay: this.network,
        ownIface: settings.iface,
        includeLoopback: this.options.includeLoopback ?? false,
      }),
      listenPort: settings.listenPort,
      ...(this.options.name === undefined ? {} : { name: this.options.name }),
    };
    if (!sameRecord(own, record)) await this.options.kv.put(VPN_BUCKET, selfId, record);
    this.published = record;

    // 3. Peers: records that hold their address and are alive or within their grace period.
    const allClaims = [...this.records].map(([peerId, r]) => ({
      peerId,
      overlayIp: r.overlayIp,
      since: r.since,
    }));
    allClaims.push(claim);
    const winners = new Map<string, string>();
    for (const [ip, holder] of winningClaims(this.network, allClaims))
      if (holder.peerId !== selfId) winners.set(holder.peerId, ip);
    const alive = new Set(this.options.membership.alive().map((member) => member.peerId));
    for (const peerId of alive) this.lastAlive.set(peerId, now);
    for (const peerId of [...winners.keys()]) {
      const seen = this.lastAlive.get(peerId) ?? this.startedAt;
      if (now - seen > settings.peerGraceMs) winners.delete(peerId);
    }
    this.winners = winners;

    // 4. Paths and the WireGuard plan.
    const dump = await this.iface.dump();
    this.lastDump = dump;
    const current = new Map(dump.peers.map((peer) => [peer.publicKey, peer]));
    const subnets = localSubnets();
    const desired: DesiredPeer[] = [];
    const keysInUse = new Set<string>([keys.publicKey]);
    for (const [peerId, overlayIp] of winners) {
      const peerRecord = this.records.get(peerId);
      if (peerRecord === undefined || keysInUse.has(peerRecord.publicKey)) continue;
      keysInUse.add(peerRecord.publicKey);
      const wg = current.get(peerRecord.publicKey);
      const step = stepPath(
        this.paths.get(peerId),
        {
          now,
          candidates: orderForDial(peerRecord.endpoints, subnets),
          relayEndpoint: this.bridges?.endpointOf(peerId),
          currentEndpoint: wg?.endpoint,
          latestHandshakeMs: wg?.latestHandshakeMs ?? 0,
        },
        this.pathSettings,
      );
      if (step.state.kind !== this.paths.get(peerId)?.kind)
        this.log.info({ peer: peerId, path: step.state.kind, endpoint: step.endpoint }, 'overlay path');
      this.paths.set(peerId, step.state);
      if (step.endpoint !== undefined) this.lastEndpoint.set(peerId, step.endpoint);
      if (this.bridges !== undefined) {
        if (step.wantRelay) await this.bridges.ensure(peerId);
        else await this.bridges.release(peerId);
      }
      desired.push({
        publicKey: peerRecord.publicKey,
        allowedIps: [`${overlayIp}/32`],
        keepalive: KEEPALIVE_SECONDS,
        endpoint: step.endpoint ?? this.lastEndpoint.get(peerId),
        applyEndpoint: step.applyEndpoint,
        reset: step.reset,
      });
    }
    for (const peerId of [...this.paths.keys()]) {
      if (winners.has(peerId)) continue;
      this.paths.delete(peerId);
      this.lastEndpoint.delete(peerId);
      await this.bridges?.close(peerId);
      this.log.info({ peer: peerId }, 'overlay peer removed');
    }
    const commands = planWg(settings.iface, desired, dump.peers);
    if (commands.length > 0) {
      await this.iface.apply(commands);
      this.lastDump = await this.iface.dump();
    }
  }

  private async readRecords(): Promise<void> {
    const records = new Map<string, VpnRecord>();
    for (const entry of await this.options.kv.list(VPN_BUCKET)) {
      // The ledger enforces key == author; checked again because a bad record costs a route.
      if (entry.key !== entry.author) continue;
      const record = parseVpnRecord(entry.value);
      if (record !== undefined) records.set(entry.key, record);
    }
    this.records = records;
  }
}

function localSubnets(): Ipv4Cidr[] {
  const subnets: Ipv4Cidr[] = [];
  for (const infos of Object.values(networkInterfaces())) {
    for (const info of infos ?? []) {
      if (info.family !== 'IPv4' || info.internal || info.cidr === null) continue;
      try {
        subnets.push(parseCidr(info.cidr));
      } catch {
        // a /31 or /32 is no LAN to prefer
      }
    }
  }
  return subnets;
}
