import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ExitCode, KairosError } from '../shared/errors.ts';

const BIN = fileURLToPath(new URL('../../bin/kairos-mesh.js', import.meta.url));

/** A daemon that meets its peers on 127.0.0.1 only: no LAN discovery, no DHT, no overlay. */
export const LOOPBACK_DAEMON_ARGS = [
  '--listen',
  '/ip4/127.0.0.1/tcp/0',
  '--no-mdns',
  '--no-vpn',
  '--dht',
  'off',
] as const;

export interface SpawnedDaemon {
  child: ChildProcess;
  /** The first address the daemon prints once it is up (a full multiaddr ending in /p2p/<id>). */
  address: Promise<string>;
}

/**
 * Starts `kairos-mesh up ARGS` as a child process, the token passed in its environment (never
 * on a command line others can read); its logs go to our stderr.
 */
export function spawnDaemon(name: string, args: string[], token: string): SpawnedDaemon {
  const child = spawn(process.execPath, [BIN, 'up', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, KAIROS_MESH_TOKEN: token },
  });
  const address = new Promise<string>((resolve, reject) => {
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split('\n').find((text) => text.startsWith('  /'));
      if (line !== undefined) resolve(line.trim());
    });
    child.once('exit', (code) =>
      reject(
        new KairosError('DAEMON_FAILED', `${name} exited with code ${code}`, { exitCode: ExitCode.software }),
      ),
    );
  });
  return { child, address };
}

/** SIGTERM, then wait for the exit (at once if it has already exited). */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
