import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  MiB,
  PARTITION_LABELS,
  planLayout,
  recoverySizeMiB,
  sgdiskArgs,
  slotSizeMiB,
  stateSizeMiB,
} from './layout.ts';

describe('disk layout', () => {
  it('follows the documented formula', () => {
    const content = 300 * MiB;
    expect(slotSizeMiB(content)).toBe(Math.ceil(300 * 1.15) + 32);
    expect(recoverySizeMiB(content)).toBe(664);
    expect(stateSizeMiB(content)).toBe(3 * slotSizeMiB(content) + 256);
    const layout = planLayout(content, 8192 * MiB);
    expect(layout.partitions.map((part) => part.label)).toEqual([...PARTITION_LABELS]);
    expect(layout.partitions.map((part) => part.sizeMiB).slice(0, 4)).toEqual([
      64,
      64,
      664,
      stateSizeMiB(content),
    ]);
    expect(layout.partitions[0]!.fs).toBe('vfat');
  });

  it('packs partitions without overlap, inside the disk, PERSISTENT taking the rest', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4096 * MiB }),
        fc.integer({ min: 0, max: 64 * 1024 }),
        (content, diskMiB) => {
          let layout;
          try {
            layout = planLayout(content, diskMiB * MiB);
          } catch (error) {
            expect((error as { code: string }).code).toBe('DISK_TOO_SMALL');
            expect(diskMiB * MiB).toBeLessThan(planLayout(content, 2 ** 46).requiredBytes);
            return;
          }
          let next = 1;
          for (const part of layout.partitions) {
            expect(part.startMiB).toBe(next);
            expect(part.sizeMiB).toBeGreaterThan(0);
            next += part.sizeMiB;
          }
          expect(next).toBe(diskMiB - 1);
          expect(layout.partitions[4]!.sizeMiB).toBeGreaterThanOrEqual(64);
        },
      ),
    );
  });

  it('refuses a disk that is one MiB short and accepts the exact size', () => {
    const content = 10 * MiB;
    const required = planLayout(content, 2 ** 46).requiredBytes;
    expect(() => planLayout(content, required - MiB)).toThrow(/disk too small/);
    expect(planLayout(content, required).partitions[4]!.sizeMiB).toBe(64);
  });

  it('renders sgdisk arguments in sectors with names and EFI type', () => {
    const args = sgdiskArgs(planLayout(MiB, 1024 * MiB));
    expect(args).toContain('--new=1:2048:133119');
    expect(args).toContain('--typecode=1:ef00');
    expect(args).toContain('--change-name=5:COS_PERSISTENT');
  });
});
