import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../shared/exec.ts';

export interface Mounted {
  dir: string;
  unmount(): Promise<void>;
}

/** Where `device` is already mounted, if it is (the running system's own partitions). */
export async function mountPointOf(device: string): Promise<string | undefined> {
  const table = await readFile('/proc/self/mounts', 'utf8');
  for (const line of table.split('\n')) {
    const [source, target] = line.split(' ');
    if (source === device && target !== undefined) return target.replace(/\\040/g, ' ');
  }
  return undefined;
}

/**
 * Mounts `device` on a private temporary directory (named after this process and the label,
 * so a test can find and clean it after a kill), or reuses an existing mount, made writable.
 */
export async function mountPartition(
  device: string,
  label: string,
  options: { readOnly?: boolean } = {},
): Promise<Mounted> {
  const existing = await mountPointOf(device);
  if (existing !== undefined) {
    if (options.readOnly !== true) await run('mount', ['-o', 'remount,rw', existing]);
    return { dir: existing, unmount: async () => {} };
  }
  const dir = await mkdtemp(join(tmpdir(), `kairos-mesh-mnt-${process.pid}-${label}-`));
  try {
    // A read-only mount replays no journal either: it must not write to the disk at all.
    await run('mount', [...(options.readOnly === true ? ['-o', 'ro,noload'] : []), device, dir]);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    dir,
    unmount: async () => {
      await run('umount', [dir], { allowFailure: true });
      await rm(dir, { recursive: true, force: true });
    },
  };
}
