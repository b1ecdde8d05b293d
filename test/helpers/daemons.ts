import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'kairos-mesh.js');
const execFileAsync = promisify(execFile);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI with the Node that runs the tests (Node 24 from devDependencies). */
export async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof failed.code === 'number' ? failed.code : -1,
      stdout: failed.stdout ?? '',
      stderr: failed.stderr ?? '',
    };
  }
}

export async function cliJson<T>(args: string[]): Promise<T> {
  const result = await cli([...args, '--json']);
  if (result.code !== 0)
    throw new Error(`kairos-mesh ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

export interface DaemonHandle {
  name: string;
  dataDir: string;
  process: ChildProcess;
  stdout: string;
  stderr: string;
  /** The exit code, or the name of the signal that ended the process. */
  exited: Promise<number | string | null>;
}

export interface StartOptions {
  name: string;
  dataDir: string;
  token?: string;
  args?: string[];
  /** Command prefix, e.g. ['ip', 'netns', 'exec', 'ns1'] for a daemon in a namespace. */
  prefix?: string[];
}

/** Starts `kairos-mesh up` and resolves once its first output line says it is up. */
export async function startDaemon(options: StartOptions): Promise<DaemonHandle> {
  const args = [
    BIN,
    'up',
    '--data-dir',
    options.dataDir,
    '--name',
    options.name,
    '--log-level',
    'warn',
    ...(options.token === undefined ? [] : ['--token', options.token]),
    ...(options.args ?? []),
  ];
  const [command, ...prefixArgs] = options.prefix ?? [];
  const child =
    command === undefined
      ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(command, [...prefixArgs, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const handle: DaemonHandle = {
    name: options.name,
    dataDir: options.dataDir,
    process: child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal))),
  };
  child.stdout?.on('data', (chunk: Buffer) => (handle.stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (handle.stderr += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${options.name} did not start: ${handle.stderr}`)),
      30_000,
    );
    const check = (): void => {
      if (handle.stdout.includes(' is up on network ')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${options.name} exited ${code}: ${handle.stderr}`));
    });
  });
  return handle;
}

/** The first address the daemon printed (a full multiaddr ending in /p2p/<id>). */
export function firstAddress(daemon: DaemonHandle): string {
  const line = daemon.stdout.split('\n').find((text) => text.startsWith('  /'));
  if (line === undefined) throw new Error(`${daemon.name} printed no address`);
  return line.trim();
}

export async function stopDaemon(
  daemon: DaemonHandle,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<number | string | null> {
  if (daemon.process.exitCode !== null || daemon.process.signalCode !== null) return daemon.exited;
  daemon.process.kill(signal);
  return daemon.exited;
}

export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Polls until `check` returns true, or fails with the last reason after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 30_000,
  intervalMs = 250,
): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check().catch(() => false)) return Date.now() - started;
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
