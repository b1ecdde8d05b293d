import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Mesh } from '../mesh/index.ts';
import type { RolesService } from '../roles/index.ts';
import { describeError, isKairosError } from '../shared/errors.ts';

const CHECK_INTERVAL_MS = 10_000;

/** True when the running kernel was booted by our GRUB config (it passes `kairos.slot=`). */
export function bootedFromKairosSlot(cmdline: string): boolean {
  return /(^|\s)kairos\.slot=\S+/.test(cmdline);
}

/**
 * Boot assessment's "good": once this node has joined the mesh and its role is applied (k3s
 * ready, or no k3s role), it marks the running image good, disarming the fallback that an
 * upgrade armed. Only on a host booted from a Kairos slot: elsewhere a COS_STATE label found on
 * some attached disk image is not ours to touch.
 */
export class BootHealth {
  private timer: NodeJS.Timeout | undefined;
  private done = false;
  private readonly mesh: Mesh;
  private readonly roles: RolesService;
  private readonly minimumNodes: number;
  private readonly log: Logger;

  constructor(mesh: Mesh, roles: RolesService, minimumNodes: number, log: Logger) {
    this.mesh = mesh;
    this.roles = roles;
    this.minimumNodes = minimumNodes;
    this.log = log;
  }

  async start(): Promise<void> {
    const cmdline = await readFile('/proc/cmdline', 'utf8').catch(() => '');
    if (!bootedFromKairosSlot(cmdline)) return;
    this.timer = setInterval(() => void this.check(), CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  private healthy(): boolean {
    const joined = this.minimumNodes <= 1 || this.mesh.aliveMembers().length > 1;
    const snapshot = this.roles.snapshot();
    const self = snapshot.nodes.find((node) => node.peerId === this.mesh.peerId);
    const applied =
      self?.role === 'none' || snapshot.k3s?.state === 'ready' || snapshot.k3s?.state === 'disabled';
    return joined && applied;
  }

  private async check(): Promise<void> {
    if (this.done || !this.healthy()) return;
    this.done = true;
    this.stop();
    try {
      // Loaded only now: most daemon runs never need the installer.
      const { bootMarkGood } = await import('../installer/index.ts');
      const status = await bootMarkGood();
      this.log.info({ status }, 'node healthy: boot marked good');
    } catch (error) {
      if (isKairosError(error) && error.code === 'NOT_KAIROS_SYSTEM') return;
      this.log.warn({ err: describeError(error) }, 'could not mark the boot good');
    }
  }
}
