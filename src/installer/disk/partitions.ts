import { access, stat } from 'node:fs/promises';
import { ExitCode, KairosError } from '../../shared/errors.ts';
import { run } from '../../shared/exec.ts';
import { PARTITION_LABELS, type PartitionLabel } from '../layout.ts';

/**
 * The partitions of a target disk as block devices. A disk image file gets one loop device per
 * partition (losetup --offset/--sizelimit: works even where the kernel does not scan loop
 * partitions); a block device uses its partition nodes when they exist.
 */
export interface AttachedDisk {
  device: string;
  partitions: Map<PartitionLabel, string>;
  detach(): Promise<void>;
}

export async function diskSize(device: string): Promise<number> {
  const info = await stat(device).catch(() => undefined);
  if (info === undefined) {
    throw new KairosError('DEVICE_NOT_FOUND', `device ${device} does not exist`, {
      exitCode: ExitCode.usage,
    });
  }
  if (info.isFile()) return info.size;
  if (!info.isBlockDevice()) {
    throw new KairosError('DEVICE_INVALID', `${device} is neither a block device nor a disk image file`, {
      exitCode: ExitCode.usage,
    });
  }
  return Number((await run('blockdev', ['--getsize64', device])).stdout.trim());
}

interface GptEntry {
  number: number;
  startBytes: number;
  sizeBytes: number;
  name: string;
  node: string;
}

async function readGpt(device: string): Promise<GptEntry[]> {
  const result = await run('sfdisk', ['--json', device], { allowFailure: true });
  if (result.exitCode !== 0) return [];
  const table = (
    JSON.parse(result.stdout) as { partitiontable?: { sectorsize?: number; partitions?: unknown[] } }
  ).partitiontable;
  const sector = table?.sectorsize ?? 512;
  return (table?.partitions ?? []).map((raw) => {
    const part = raw as { node: string; start: number; size: number; name?: string };
    return {
      number: Number(/([0-9]+)$/.exec(part.node)?.[1] ?? 0),
      startBytes: part.start * sector,
      sizeBytes: part.size * sector,
      name: part.name ?? '',
      node: part.node,
    };
  });
}

export function notKairosDisk(device: string): KairosError {
  return new KairosError(
    'NOT_KAIROS_LAYOUT',
    `${device} has no Kairos layout (expected GPT partitions ${PARTITION_LABELS.join(', ')}); run install first`,
    { exitCode: ExitCode.dataErr },
  );
}

/**
 * Refuses a disk image that loop devices already use (another run, or one that was killed and
 * left its mounts): mounting the same filesystem twice corrupts it.
 */
export async function assertNotInUse(device: string): Promise<void> {
  const info = await stat(device);
  if (!info.isFile()) return;
  const listed = await run('losetup', ['--associated', device, '--noheadings', '--output', 'NAME'], {
    allowFailure: true,
  });
  const loops = listed.stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  if (loops.length > 0) {
    throw new KairosError(
      'DEVICE_BUSY',
      `${device} is in use by ${loops.join(', ')} (another run, or a killed one: unmount and detach them first)`,
      { exitCode: ExitCode.tempFail },
    );
  }
}

export async function attachDisk(device: string): Promise<AttachedDisk> {
  await assertNotInUse(device);
  const info = await stat(device);
  const entries = await readGpt(device);
  const partitions = new Map<PartitionLabel, string>();
  const loops: string[] = [];
  const detach = async (): Promise<void> => {
    for (const loop of loops.splice(0).reverse())
      await run('losetup', ['--detach', loop], { allowFailure: true });
  };
  try {
    for (const label of PARTITION_LABELS) {
      const entry = entries.find((candidate) => candidate.name === label);
      if (entry === undefined) throw notKairosDisk(device);
      if (info.isBlockDevice() && (await exists(entry.node))) {
        partitions.set(label, entry.node);
        continue;
      }
      const loop = (
        await run('losetup', [
          '--find',
          '--show',
          '--offset',
          String(entry.startBytes),
          '--sizelimit',
          String(entry.sizeBytes),
          device,
        ])
      ).stdout.trim();
      loops.push(loop);
      partitions.set(label, loop);
    }
  } catch (error) {
    await detach();
    throw error;
  }
  return { device, partitions, detach };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The partition of the running system carrying `label`, found by blkid. */
export async function findByLabel(label: PartitionLabel): Promise<string | undefined> {
  const result = await run('blkid', ['-l', '-o', 'device', '-t', `LABEL=${label}`], { allowFailure: true });
  const device = result.stdout.trim();
  return result.exitCode === 0 && device !== '' ? device : undefined;
}
