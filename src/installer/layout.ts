import { ExitCode, KairosError } from '../shared/errors.ts';

/**
 * The disk layout users know from Kairos, sized from the OS image (pure, no I/O).
 *
 *   content  = bytes the root tree takes on ext4 (files rounded up to 4 KiB + one block per entry)
 *   slot     = ceil(content × 1.15 / MiB) + 32 MiB              (one of active.img / passive.img)
 *   COS_GRUB = 64 MiB (EFI, vfat)     COS_OEM = 64 MiB (ext4)
 *   COS_RECOVERY = 2 × ceil(content / MiB) + 64 MiB    (recovery.squashfs, old and new side by side)
 *   COS_STATE    = 3 × slot + 256 MiB   (active, passive and an upgrade's transition image at once,
 *                                        plus headroom for later images that grow)
 *   COS_PERSISTENT = the rest of the disk, at least 64 MiB
 * Partitions start at 1 MiB and are MiB-aligned; 1 MiB at the end is left for the backup GPT.
 */
export const MiB = 1024 * 1024;
export const FIXED_PARTITION_MiB = 64;
export const STATE_HEADROOM_MiB = 256;
export const MIN_PERSISTENT_MiB = 64;

export type FsType = 'vfat' | 'ext4';

export interface PartitionPlan {
  number: number;
  label: PartitionLabel;
  fs: FsType;
  /** sgdisk type code. */
  typeCode: string;
  startMiB: number;
  sizeMiB: number;
}

export const PARTITION_LABELS = [
  'COS_GRUB',
  'COS_OEM',
  'COS_RECOVERY',
  'COS_STATE',
  'COS_PERSISTENT',
] as const;
export type PartitionLabel = (typeof PARTITION_LABELS)[number];

export interface DiskLayout {
  contentBytes: number;
  slotMiB: number;
  partitions: PartitionPlan[];
  /** Smallest disk that holds this layout (with the minimum PERSISTENT). */
  requiredBytes: number;
}

export function slotSizeMiB(contentBytes: number): number {
  return Math.ceil((contentBytes * 1.15) / MiB) + 32;
}

export function recoverySizeMiB(contentBytes: number): number {
  return 2 * Math.ceil(contentBytes / MiB) + 64;
}

export function stateSizeMiB(contentBytes: number): number {
  return 3 * slotSizeMiB(contentBytes) + STATE_HEADROOM_MiB;
}

/** Bytes one tree entry of `size` bytes costs on ext4 with 4 KiB blocks (data + inode share). */
export function entryCostBytes(size: number): number {
  return Math.ceil(size / 4096) * 4096 + 4096;
}

/** Plans the partitions of a disk of `diskBytes`, or refuses (before anything is touched). */
export function planLayout(contentBytes: number, diskBytes: number): DiskLayout {
  const slotMiB = slotSizeMiB(contentBytes);
  const sizes: [PartitionLabel, FsType, string, number][] = [
    ['COS_GRUB', 'vfat', 'ef00', FIXED_PARTITION_MiB],
    ['COS_OEM', 'ext4', '8300', FIXED_PARTITION_MiB],
    ['COS_RECOVERY', 'ext4', '8300', recoverySizeMiB(contentBytes)],
    ['COS_STATE', 'ext4', '8300', stateSizeMiB(contentBytes)],
  ];
  const fixedMiB = sizes.reduce((sum, [, , , size]) => sum + size, 0);
  const requiredMiB = 1 + fixedMiB + MIN_PERSISTENT_MiB + 1;
  const diskMiB = Math.floor(diskBytes / MiB);
  if (diskMiB < requiredMiB) {
    throw new KairosError(
      'DISK_TOO_SMALL',
      `disk too small: the image needs ${requiredMiB} MiB, the disk has ${diskMiB} MiB`,
      { exitCode: ExitCode.dataErr },
    );
  }
  const partitions: PartitionPlan[] = [];
  let start = 1;
  for (const [label, fs, typeCode, sizeMiB] of sizes) {
    partitions.push({ number: partitions.length + 1, label, fs, typeCode, startMiB: start, sizeMiB });
    start += sizeMiB;
  }
  partitions.push({
    number: 5,
    label: 'COS_PERSISTENT',
    fs: 'ext4',
    typeCode: '8300',
    startMiB: start,
    sizeMiB: diskMiB - 1 - start,
  });
  return { contentBytes, slotMiB, partitions, requiredBytes: requiredMiB * MiB };
}

/** sgdisk arguments that create `layout` on a fresh GPT (one invocation, no shell). */
export function sgdiskArgs(layout: DiskLayout): string[] {
  const args = ['--zap-all', '--clear'];
  for (const part of layout.partitions) {
    const end = `${(part.startMiB + part.sizeMiB) * 2048 - 1}`;
    args.push(
      `--new=${part.number}:${part.startMiB * 2048}:${end}`,
      `--typecode=${part.number}:${part.typeCode}`,
      `--change-name=${part.number}:${part.label}`,
    );
  }
  return args;
}
