import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import type { Logger } from 'pino';
import { backoffDelay } from '../shared/backoff.ts';

export interface SupervisorOptions {
  bin: string;
  args: string[];
  env: Record<string, string>;
  log: Logger;
  /** Where the child's stdout/stderr go (appended); discarded when absent. */
  logFile?: string | undefined;
  restartBaseMs?: number;
  restartMaxMs?: number;
  /** Grace between SIGTERM and SIGKILL on stop. */
  stopTimeoutMs?: number;
}

/**
 * Runs k3s as our child where no service manager exists (`--k3s-exec`): restarts it with
 * exponential backoff when it exits, and stops it (TERM, then KILL) when we stop.
 */
export class K3sSupervisor {
  private child: ChildProcess | undefined;
  private stopped = true;
  private restarts = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly options: SupervisorOptions;

  constructor(options: SupervisorOptions) {
    this.options = options;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get restartCount(): number {
    return this.restarts;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.launch();
  }

  private launch(): void {
    const { bin, args, env, log, logFile } = this.options;
    const output = logFile === undefined ? 'ignore' : openSync(logFile, 'a', 0o600);
    let child: ChildProcess;
    try {
      child = spawn(bin, args, {
        env: { ...process.env, ...env },
        stdio: ['ignore', output, output],
        detached: false,
      });
    } finally {
      if (typeof output === 'number') closeSync(output);
    }
    this.child = child;
    const startedAt = Date.now();
    child.on('error', (error) => log.warn({ err: error.message, bin }, 'k3s could not start'));
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.stopped) return;
      // A run that lasted a while resets the backoff.
      if (Date.now() - startedAt > 60_000) this.restarts = 0;
      const delay = backoffDelay(
        this.restarts++,
        this.options.restartBaseMs ?? 1000,
        this.options.restartMaxMs ?? 30_000,
      );
      log.warn({ code, signal, restartInMs: delay }, 'k3s exited; restarting');
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (!this.stopped) this.launch();
      }, delay);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const kill = setTimeout(() => child.kill('SIGKILL'), this.options.stopTimeoutMs ?? 10_000);
    await exited;
    clearTimeout(kill);
    this.child = undefined;
  }
}
