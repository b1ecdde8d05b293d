/**
 * Power-cut safety of the A/B switch: the upgrade is SIGKILLed at ten checkpoints chosen by a
 * seed (KAIROS_MESH_TEST_SEED to replay). After each kill the disk is "rebooted" (its mounts
 * and loop devices released, as a power cut would), then: the slot GRUB would boot exists,
 * passes e2fsck and holds the old or the new VERSION (old before the commit point, new after),
 * and the next upgrade completes and leaves exactly active.img and passive.img.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../src/shared/exec.ts';
import { simulateBoot } from '../src/installer/boot-rules.ts';
import { UPGRADE_CHECKPOINTS } from '../src/installer/checkpoint.ts';
import {
  buildOsTree,
  cli,
  loopsOf,
  push,
  releaseDisk,
  sparseDisk,
  startRegistry,
  tempDir,
  writeOciLayout,
  type Registry,
} from './installer-fixtures.ts';
import { grubEnvOf, imageInfo, listPartitionDir } from './installer-disk.ts';
import { mulberry32 } from '../src/shared/mulberry32.ts';

const seed = Number(process.env['KAIROS_MESH_TEST_SEED'] ?? Date.now() % 100_000);

function seededPoints(count: number): string[] {
  const random = mulberry32(seed);
  const points = [...UPGRADE_CHECKPOINTS];
  for (let i = points.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [points[i], points[j]] = [points[j]!, points[i]!];
  }
  return points.slice(0, count);
}

/** Checkpoints before the commit leave the old image booting; from the commit on, the new. */
const COMMIT_INDEX = UPGRADE_CHECKPOINTS.indexOf('committed');

let dir: string;
let registry: Registry;
let disk: string;

beforeAll(async () => {
  dir = await tempDir('crash');
  const layout = join(dir, 'layout');
  await writeOciLayout(layout, [await buildOsTree(join(dir, 'v1'), '1')], { tag: '1' });
  await writeOciLayout(layout, [await buildOsTree(join(dir, 'v2'), '2')], { tag: '2' });
  registry = await startRegistry(dir);
  await push(layout, '1', `${registry.host}/kairos/os:1`);
  await push(layout, '2', `${registry.host}/kairos/os:2`);
  disk = await sparseDisk(join(dir, 'disk.img'), 1024);
  const installed = await cli([
    'install',
    '--device',
    disk,
    '--source',
    `oci://${registry.host}/kairos/os:1`,
    '--yes',
    '--work-dir',
    dir,
  ]);
  if (installed.code !== 0) throw new Error(`install failed: ${installed.stderr}`);
}, 120_000);

afterAll(async () => {
  await registry?.stop();
  if (disk !== undefined) await releaseDisk(disk);
  if (dir !== undefined) await run('rm', ['-rf', dir]);
});

async function bootedSlot(): Promise<{ slot: string; file: string }> {
  const env = await grubEnvOf(disk);
  const { slot } = simulateBoot(env);
  const file = slot === 'passive' ? env['kairos_passive_img']! : env['kairos_active_img']!;
  return { slot, file };
}

describe(`upgrade killed at ten seeded points (seed ${seed})`, () => {
  it('always leaves a bootable slot, and the next upgrade completes', async () => {
    let current = '1';
    for (const point of seededPoints(10)) {
      const next = current === '1' ? '2' : '1';
      const context = `seed ${seed}, checkpoint ${point}, upgrade ${current}→${next}`;
      const killed = await cli(
        [
          'upgrade',
          '--device',
          disk,
          '--source',
          `oci://${registry.host}/kairos/os:${next}`,
          '--work-dir',
          dir,
        ],
        {
          KAIROS_MESH_CRASH_AT: point,
        },
      );
      expect(killed.signal, context).toBe('SIGKILL');
      await releaseDisk(disk);

      const booted = await bootedSlot();
      const image = await imageInfo(disk, booted.file);
      const expected =
        UPGRADE_CHECKPOINTS.indexOf(point as (typeof UPGRADE_CHECKPOINTS)[number]) >= COMMIT_INDEX
          ? next
          : current;
      expect(image, context).toMatchObject({ fsckClean: true, version: expected });
      expect(booted.slot, context).toBe('active');

      const finished = await cli([
        'upgrade',
        '--device',
        disk,
        '--source',
        `oci://${registry.host}/kairos/os:${next}`,
        '--work-dir',
        dir,
      ]);
      expect(finished.code, `${context}: ${finished.stderr}`).toBe(0);
      expect(await listPartitionDir(disk, 'COS_STATE', '/cOS'), context).toEqual([
        'active.img',
        'passive.img',
      ]);
      expect(await imageInfo(disk, 'active.img'), context).toEqual({
        label: 'COS_ACTIVE',
        version: next,
        fsckClean: true,
      });
      const passive = await imageInfo(disk, 'passive.img');
      expect(passive, context).toMatchObject({ label: 'COS_PASSIVE', fsckClean: true });
      expect(await grubEnvOf(disk), context).toMatchObject({
        kairos_upgrade: '',
        kairos_active_img: 'active.img',
        kairos_passive_img: 'passive.img',
      });
      // Health confirmed, so the next round's upgrade keeps this image as its fallback.
      expect((await cli(['boot', 'mark-good', '--device', disk])).code, context).toBe(0);
      expect(await loopsOf(disk)).toEqual([]);
      current = next;
    }
  }, 300_000);

  it('boot mark-good after a power cut finishes the interrupted switch', async () => {
    const before = (await imageInfo(disk, 'active.img')).version!;
    const next = before === '1' ? '2' : '1';
    const killed = await cli(
      [
        'upgrade',
        '--device',
        disk,
        '--source',
        `oci://${registry.host}/kairos/os:${next}`,
        '--work-dir',
        dir,
      ],
      {
        KAIROS_MESH_CRASH_AT: 'committed',
      },
    );
    expect(killed.signal).toBe('SIGKILL');
    await releaseDisk(disk);
    expect(await listPartitionDir(disk, 'COS_STATE', '/cOS')).toEqual([
      'active.img',
      'passive.img',
      'transition.img',
    ]);
    expect((await cli(['boot', 'mark-good', '--device', disk])).code).toBe(0);
    expect(await listPartitionDir(disk, 'COS_STATE', '/cOS')).toEqual(['active.img', 'passive.img']);
    expect(await imageInfo(disk, 'active.img')).toEqual({
      label: 'COS_ACTIVE',
      version: next,
      fsckClean: true,
    });
    expect(await imageInfo(disk, 'passive.img')).toEqual({
      label: 'COS_PASSIVE',
      version: before,
      fsckClean: true,
    });
    expect(await grubEnvOf(disk)).toMatchObject({ kairos_upgrade: '', kairos_tries: '' });
  });
});
