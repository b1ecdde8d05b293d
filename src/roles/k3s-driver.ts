import { access, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import { describeError } from '../shared/errors.ts';
import { run, type ExecOptions, type ExecResult } from '../shared/exec.ts';
import { writeFileAtomic } from '../shared/secure-file.ts';
import { sleep } from '../shared/sleep.ts';
import { canonicalJson } from './hash.ts';
import {
  envFilePath,
  planK3s,
  renderEnvFile,
  renderOpenRcArgs,
  renderSystemdDropIn,
  type K3sCommand,
  type K3sSpec,
} from './k3s-plan.ts';
import { K3sSupervisor } from './k3s-supervisor.ts';

export type K3sDriverSettings = Pick<Config, 'k3sService' | 'k3sBin' | 'clusterReadyHook'>;
export type K3sBackend = 'systemd' | 'openrc' | 'exec';
export type K3sState = 'idle' | 'disabled' | 'starting' | 'ready' | 'failed';

export type CommandRunner = (
  file: string,
  args: readonly string[],
  options?: ExecOptions,
) => Promise<ExecResult>;

export interface K3sDriverOptions {
  settings: K3sDriverSettings;
  log: Logger;
  /** Prefix for every system path (/etc, /var/lib, /run), so tests write into a temp dir. */
  root?: string;
  /** Where exec mode appends k3s' output (`<dir>/k3s.log`). */
  logDir?: string;
  /** Runs systemctl / rc-service / the readiness probe / the hook; tests record the calls. */
  runCommand?: CommandRunner;
  readyPollMs?: number;
  /** First restart delay of a supervised k3s (exec mode). */
  restartBaseMs?: number;
  /** Called once per applied command when k3s reports ready. */
  onReady?: (role: K3sSpec['role']) => void;
}

export interface K3sStatus {
  backend?: K3sBackend;
  state: K3sState;
  role?: K3sSpec['role'];
  epoch?: number;
  service?: string;
  /** The command line (the env is left out: it holds the join token). */
  command?: string[];
  error?: string;
  restarts?: number;
}

/** What the roles service needs from a driver (tests of the service pass a recording fake). */
export interface K3sDriverPort {
  apply(spec: K3sSpec, epoch: number): Promise<void>;
  clear(): Promise<void>;
  stop(): Promise<void>;
  status(): K3sStatus;
  readNodeToken(): Promise<string | undefined>;
  readKubeconfig(): Promise<string | undefined>;
}

/**
 * Readiness contract (what the fake k3s in the tests implements):
 * - servers: `<k3s-bin> kubectl get --raw /readyz` with KUBECONFIG=<root>/etc/rancher/k3s/k3s.yaml
 *   exits 0 and prints `ok`;
 * - agents: `<root>/var/lib/rancher/k3s/agent/kubelet.kubeconfig` exists.
 * The join token is `<root>/var/lib/rancher/k3s/server/node-token`, the admin kubeconfig
 * `<root>/etc/rancher/k3s/k3s.yaml`.
 */
export class K3sDriver implements K3sDriverPort {
  private readonly options: K3sDriverOptions;
  private readonly root: string;
  private readonly runCommand: CommandRunner;
  private backend: K3sBackend | undefined;
  private current: { key: string; command: K3sCommand; spec: K3sSpec; epoch: number } | undefined;
  private supervisor: K3sSupervisor | undefined;
  private state: K3sState = 'idle';
  private error: string | undefined;
  private watch: AbortController | undefined;

  constructor(options: K3sDriverOptions) {
    this.options = options;
    this.root = options.root ?? '';
    this.runCommand = options.runCommand ?? run;
  }

  path(absolute: string): string {
    return this.root === '' ? absolute : join(this.root, absolute);
  }

  get kubeconfigPath(): string {
    return this.path('/etc/rancher/k3s/k3s.yaml');
  }

  get nodeTokenPath(): string {
    return this.path('/var/lib/rancher/k3s/server/node-token');
  }

  status(): K3sStatus {
    const current = this.current;
    return {
      ...(this.backend === undefined ? {} : { backend: this.backend }),
      state: this.state,
      ...(current === undefined
        ? {}
        : {
            role: current.spec.role,
            epoch: current.epoch,
            service: current.command.service,
            command: [this.options.settings.k3sBin, current.command.subcommand, ...current.command.args],
          }),
      ...(this.error === undefined ? {} : { error: this.error }),
      ...(this.supervisor === undefined ? {} : { restarts: this.supervisor.restartCount }),
    };
  }

  /** Installs and (re)starts k3s for `spec`; does nothing when the command is unchanged. */
  async apply(spec: K3sSpec, epoch: number): Promise<void> {
    if (!spec.user.enabled) {
      await this.clear();
      this.state = 'disabled';
      return;
    }
    const command = planK3s(spec);
    const key = canonicalJson(command);
    if (this.current?.key === key) {
      this.current.epoch = epoch;
      return;
    }
    const backend = await this.detectBackend(command.service);
    const previous = this.current?.command;
    this.stopWatch();
    this.current = { key, command, spec, epoch };
    this.state = 'starting';
    this.error = undefined;
    try {
      if (backend === 'exec') await this.applyExec(command);
      else if (backend === 'systemd') await this.applySystemd(command, previous);
      else await this.applyOpenRc(command, previous);
    } catch (error) {
      this.state = 'failed';
      this.error = describeError(error);
      this.options.log.error({ err: this.error, backend }, 'could not start k3s');
      return;
    }
    this.options.log.info({ role: spec.role, epoch, backend, service: command.service }, 'k3s configured');
    this.startWatch(spec, epoch);
  }

  /** Stops k3s for a node that no longer has a role. */
  async clear(): Promise<void> {
    this.stopWatch();
    const previous = this.current?.command;
    this.current = undefined;
    this.state = 'idle';
    if (this.supervisor !== undefined) await this.supervisor.stop();
    this.supervisor = undefined;
    if (previous !== undefined && this.backend === 'systemd')
      await this.runCommand('systemctl', ['disable', '--now', previous.service], { allowFailure: true });
    if (previous !== undefined && this.backend === 'openrc') {
      await this.runCommand('rc-service', [previous.service, 'stop'], { allowFailure: true });
      await this.runCommand('rc-update', ['del', previous.service, 'default'], { allowFailure: true });
    }
  }

  /** Daemon shutdown: a supervised k3s stops with us; a system service keeps running. */
  async stop(): Promise<void> {
    this.stopWatch();
    if (this.supervisor !== undefined) await this.supervisor.stop();
    this.supervisor = undefined;
  }

  async readNodeToken(): Promise<string | undefined> {
    return (await readIfExists(this.nodeTokenPath))?.trim() || undefined;
  }

  async readKubeconfig(): Promise<string | undefined> {
    return readIfExists(this.kubeconfigPath);
  }

  private async detectBackend(service: string): Promise<K3sBackend> {
    const wanted = this.options.settings.k3sService;
    if (wanted !== 'auto') return (this.backend = wanted);
    if (await exists(this.path('/run/systemd/system'))) {
      const units = [
        '/etc/systemd/system',
        '/lib/systemd/system',
        '/usr/lib/systemd/system',
        '/usr/local/lib/systemd/system',
      ];
      for (const dir of units)
        if (await exists(this.path(`${dir}/${service}.service`))) return (this.backend = 'systemd');
    }
    if ((await exists(this.path('/run/openrc'))) && (await exists(this.path(`/etc/init.d/${service}`))))
      return (this.backend = 'openrc');
    return (this.backend = 'exec');
  }

  private async applyExec(command: K3sCommand): Promise<void> {
    if (this.supervisor !== undefined) await this.supervisor.stop();
    const logDir = this.options.logDir;
    if (logDir !== undefined) await mkdir(logDir, { recursive: true, mode: 0o700 });
    this.supervisor = new K3sSupervisor({
      bin: this.options.settings.k3sBin,
      args: [command.subcommand, ...command.args],
      env: command.env,
      log: this.options.log,
      logFile: logDir === undefined ? undefined : join(logDir, 'k3s.log'),
      ...(this.options.restartBaseMs === undefined ? {} : { restartBaseMs: this.options.restartBaseMs }),
    });
    this.supervisor.start();
  }

  private async applySystemd(command: K3sCommand, previous: K3sCommand | undefined): Promise<void> {
    const dropIn = this.path(`/etc/systemd/system/${command.service}.service.d/override.conf`);
    await writeFileAtomic(dropIn, renderSystemdDropIn(this.options.settings.k3sBin, command), 0o644);
    await writeFileAtomic(this.path(envFilePath(command)), renderEnvFile(command.env), 0o600);
    if (previous !== undefined && previous.service !== command.service)
      await this.runCommand('systemctl', ['disable', '--now', previous.service], { allowFailure: true });
    await this.runCommand('systemctl', ['daemon-reload']);
    await this.runCommand('systemctl', ['enable', command.service]);
    await this.runCommand('systemctl', ['restart', command.service]);
  }

  private async applyOpenRc(command: K3sCommand, previous: K3sCommand | undefined): Promise<void> {
    await writeFileAtomic(
      this.path(`/etc/rancher/k3s/${command.service}.env`),
      renderOpenRcArgs(command),
      0o600,
    );
    await writeFileAtomic(this.path(envFilePath(command)), renderEnvFile(command.env), 0o600);
    if (previous !== undefined && previous.service !== command.service) {
      await this.runCommand('rc-service', [previous.service, 'stop'], { allowFailure: true });
      await this.runCommand('rc-update', ['del', previous.service, 'default'], { allowFailure: true });
    }
    await this.runCommand('rc-update', ['add', command.service, 'default']);
    await this.runCommand('rc-service', [command.service, 'restart']);
  }

  private startWatch(spec: K3sSpec, epoch: number): void {
    const watch = new AbortController();
    this.watch = watch;
    void this.watchReady(spec, epoch, watch.signal);
  }

  private stopWatch(): void {
    this.watch?.abort();
    this.watch = undefined;
  }

  private async watchReady(spec: K3sSpec, epoch: number, signal: AbortSignal): Promise<void> {
    const pollMs = this.options.readyPollMs ?? 2000;
    while (!signal.aborted) {
      if (await this.isReady(spec.role).catch(() => false)) break;
      await sleep(pollMs, signal);
    }
    if (signal.aborted) return;
    this.state = 'ready';
    this.options.log.info({ role: spec.role, epoch }, 'k3s is ready');
    await this.runHook(spec, epoch);
    this.options.onReady?.(spec.role);
  }

  private async isReady(role: K3sSpec['role']): Promise<boolean> {
    if (role === 'worker') return exists(this.path('/var/lib/rancher/k3s/agent/kubelet.kubeconfig'));
    const result = await this.runCommand(
      this.options.settings.k3sBin,
      ['kubectl', 'get', '--raw', '/readyz'],
      {
        allowFailure: true,
        env: { KUBECONFIG: this.kubeconfigPath },
      },
    );
    return result.exitCode === 0 && result.stdout.trim() === 'ok';
  }

  /** The operator's `cluster_ready` command line from the config, run by /bin/sh once per start. */
  private async runHook(spec: K3sSpec, epoch: number): Promise<void> {
    const hook = this.options.settings.clusterReadyHook;
    if (hook === undefined) return;
    try {
      const result = await this.runCommand('/bin/sh', ['-c', hook], {
        allowFailure: true,
        env: {
          KAIROS_MESH_ROLE: spec.role,
          KAIROS_MESH_EPOCH: String(epoch),
          ...(spec.role === 'worker' ? {} : { KUBECONFIG: this.kubeconfigPath }),
        },
      });
      if (result.exitCode === 0) this.options.log.info('cluster-ready hook ran');
      else this.options.log.warn({ exitCode: result.exitCode }, 'cluster-ready hook failed');
    } catch (error) {
      this.options.log.warn({ err: describeError(error) }, 'cluster-ready hook could not run');
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
