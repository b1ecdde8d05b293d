import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { loadOrCreateIdentity, Mesh, type MeshOptions } from '../mesh/index.ts';
import { rememberedListenAddresses, rememberListenPorts } from './stable-ports.ts';
import { deriveKeys } from '../token/index.ts';
import { apiSocketPath } from '../shared/control-api.ts';
import { ApiServer } from './api-server.ts';
import { PidLock } from './pid-lock.ts';
import { registerMeshRoutes } from './mesh-routes.ts';
import { registerLedgerRoutes } from './ledger-routes.ts';
import { NodeRecords } from './node-records.ts';
import { Ledger } from '../ledger/index.ts';
import { VpnService } from '../vpn/index.ts';
import { RolesService } from '../roles/index.ts';
import { registerVpnRoutes } from './vpn-routes.ts';
import { registerRolesRoutes } from './roles-routes.ts';
import { meshRequests } from './mesh-requests.ts';
import { BootHealth } from './boot-health.ts';

/** Request/response protocol of the roles module (kubeconfig on demand). */
const ROLES_PROTOCOL = '/kairos-mesh/roles/1.0.0';
import { resolveToken, type ResolvedToken } from './token-store.ts';

export interface DaemonStarted {
  mesh: Mesh;
  token: ResolvedToken;
}

/** The one place that wires the modules of a node together. */
export class Daemon {
  private readonly config: Config;
  private readonly log: Logger;
  private readonly lock: PidLock;
  private readonly stack: Array<() => Promise<void>> = [];

  constructor(config: Config, log: Logger) {
    this.config = config;
    this.log = log;
    this.lock = new PidLock(config.dataDir);
  }

  async start(): Promise<DaemonStarted> {
    const config = this.config;
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    await this.lock.acquire();
    this.stack.push(() => this.lock.release());
    try {
      const token = await resolveToken(config.dataDir, config.token);
      const keys = deriveKeys(token.token, config.networkId ?? token.token.networkId);
      const privateKey = await loadOrCreateIdentity(config.dataDir);
      const mesh = await this.startMesh(config, {
        dataDir: config.dataDir,
        privateKey,
        keys,
        name: config.name,
        bootstrap: [...config.bootstrap, ...token.token.bootstrap],
        mdns: config.mdns,
        dht: config.dht,
        relayServer: config.relayServer,
        heartbeatMs: config.presence.heartbeatMs,
        ttlMs: config.presence.ttlMs,
        hiddenCidrs: config.vpn.enabled ? [config.vpn.cidr] : [],
        reservedUdpPorts: config.vpn.enabled ? [config.vpn.listenPort] : [],
        log: this.log.child({ module: 'mesh' }),
      });
      this.stack.push(() => mesh.stop());

      const ledger = new Ledger({
        path: join(config.dataDir, 'ledger'),
        privateKey,
        transport: mesh,
        topic: `${keys.topicPrefix}/ledger/1`,
        log: this.log.child({ module: 'ledger' }),
      });
      await ledger.start();
      this.stack.push(() => ledger.stop());
      const nodeRecords = new NodeRecords(ledger, mesh, config.name);
      await nodeRecords.start();
      this.stack.push(() => Promise.resolve(nodeRecords.stop()));

      const vpn = config.vpn.enabled ? await this.startVpn(config, mesh, ledger) : undefined;
      const roles = new RolesService({
        self: { peerId: mesh.peerId, name: config.name },
        config,
        kv: ledger,
        membership: {
          alive: () => mesh.aliveMembers().map(({ peerId, name }) => ({ peerId, name })),
          onChange: (listener) => mesh.onMembersChanged(listener),
          overlayIp: (peerId) => vpn?.overlayIpOf(peerId),
          pullSourceFor: (peerId) => mesh.connectedVia(peerId) ?? peerId,
        },
        mesh: meshRequests(mesh, ROLES_PROTOCOL),
        ...(config.k3sRoot === undefined ? {} : { root: config.k3sRoot }),
        log: this.log.child({ module: 'roles' }),
      });
      await roles.start();
      this.stack.push(() => roles.stop());
      const bootHealth = new BootHealth(mesh, roles, config.minimumNodes, this.log.child({ module: 'boot' }));
      await bootHealth.start();
      this.stack.push(() => Promise.resolve(bootHealth.stop()));
      // Only now, with this node's records written, does it reach out (see Mesh.join).
      mesh.join();

      const api = new ApiServer(apiSocketPath(config.dataDir), this.log.child({ module: 'api' }));
      registerMeshRoutes(api, mesh);
      registerLedgerRoutes(api, ledger);
      registerVpnRoutes(api, vpn);
      registerRolesRoutes(api, roles);
      await api.start();
      this.stack.push(() => api.stop());
      return { mesh, token };
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /**
   * Starts the mesh on the ports it had last time (members remember our addresses); if one is
   * taken now, on the configured addresses instead.
   */
  private async startMesh(config: Config, options: Omit<MeshOptions, 'listen'>): Promise<Mesh> {
    const remembered = await rememberedListenAddresses(config.dataDir, config.listen);
    let mesh: Mesh;
    try {
      mesh = await startMeshOn(options, remembered);
    } catch (error) {
      if (remembered.join() === config.listen.join()) throw error;
      this.log.warn({ listen: remembered }, 'remembered listen ports are taken; using the configured ones');
      mesh = await startMeshOn(options, config.listen);
    }
    await rememberListenPorts(config.dataDir, config.listen, mesh.addresses());
    return mesh;
  }

  private async startVpn(config: Config, mesh: Mesh, ledger: Ledger): Promise<VpnService> {
    const vpn = new VpnService({
      selfId: mesh.peerId,
      dataDir: config.dataDir,
      settings: config.vpn,
      kv: ledger,
      membership: {
        alive: () => mesh.aliveMembers().map(({ peerId }) => ({ peerId })),
        onChange: (listener) => mesh.onMembersChanged(listener),
        observedAddresses: () => mesh.ipAddresses(),
      },
      relay: mesh,
      name: config.name,
      log: this.log.child({ module: 'vpn' }),
    });
    await vpn.start();
    this.stack.push(() => vpn.stop());
    return vpn;
  }

  /** Stops everything started, newest first; safe to call twice. */
  async stop(): Promise<void> {
    while (this.stack.length > 0) {
      const stop = this.stack.pop();
      await stop?.().catch((error: unknown) => this.log.warn({ err: String(error) }, 'stop step failed'));
    }
  }
}

async function startMeshOn(options: Omit<MeshOptions, 'listen'>, listen: string[]): Promise<Mesh> {
  const mesh = await Mesh.create({ ...options, listen });
  try {
    await mesh.start();
    return mesh;
  } catch (error) {
    await mesh.stop().catch(() => undefined);
    throw error;
  }
}
