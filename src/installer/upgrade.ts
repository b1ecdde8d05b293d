import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode, KairosError } from '../shared/errors.ts';
import { run } from '../shared/exec.ts';
import { DEFAULT_TRIES, MAX_TRIES } from './boot-rules.ts';
import { checkpoint } from './checkpoint.ts';
import { buildSlotImage, buildSquashfs } from './disk/filesystems.ts';
import { ext4FreeBytes, ext4ListDir, ext4ReadFile } from './disk/ext4-offline.ts';
import { decodeGrubEnv } from './grubenv.ts';
import { ENV } from './boot-rules.ts';
import { GRUBENV_PATH, GRUB_CFG_PATH, IMAGE_DIR, RECOVERY_IMAGE, mainGrubConfig } from './grub-config.ts';
import { MiB, slotSizeMiB } from './layout.ts';
import { prepareRoot, type SourceOptions } from './prepare-root.ts';
import { TRANSITION_IMG, commitSwitch, keptImage } from './slot-switch.ts';
import { StateStore } from './state-store.ts';
import { Target } from './target.ts';

export interface UpgradeOptions extends SourceOptions {
  device?: string;
  /** Upgrade the recovery image instead of the active one. */
  recovery?: boolean;
  /** Boot tries the new image gets before falling back (default 3). */
  tries?: number;
}

export interface UpgradeResult {
  digest: string;
  target: 'active' | 'recovery';
  tries: number;
}

/** Free space an image build needs beyond its own size (ext4 allocation slack). */
const SLACK_BYTES = 8 * MiB;

function noSpace(where: string, need: number, free: number): KairosError {
  return new KairosError(
    'NO_SPACE',
    `not enough space on ${where}: the new image needs ${Math.ceil(need / MiB)} MiB, ${Math.floor(free / MiB)} MiB free; nothing was changed`,
    { exitCode: ExitCode.ioErr },
  );
}

export async function upgrade(options: UpgradeOptions): Promise<UpgradeResult> {
  const tries = options.tries ?? DEFAULT_TRIES;
  if (!Number.isInteger(tries) || tries < 1 || tries > MAX_TRIES) {
    throw new KairosError('USAGE', `--tries must be 1 to ${MAX_TRIES}`, { exitCode: ExitCode.usage });
  }
  const root = await prepareRoot(options);
  try {
    const target = await Target.open(options.device);
    try {
      if (options.recovery === true) {
        const free = await ext4FreeBytes(await target.partition('COS_RECOVERY'));
        if (free < root.size.contentBytes + SLACK_BYTES)
          throw noSpace('COS_RECOVERY', root.size.contentBytes, free);
        const recovery = await target.mount('COS_RECOVERY');
        options.progress.phase('writing recovery image');
        await mkdir(join(recovery, IMAGE_DIR), { recursive: true });
        await buildSquashfs(root.rootDir, join(recovery, IMAGE_DIR, RECOVERY_IMAGE));
        options.progress.done();
        return { digest: root.digest, target: 'recovery', tries: 0 };
      }
      const slotMiB = slotSizeMiB(root.size.contentBytes);
      // Refuse before the first rw mount: mounting alone rewrites the superblock.
      const stateDevice = await target.partition('COS_STATE');
      const available = await offlineStateSpace(stateDevice);
      if (available < slotMiB * MiB + SLACK_BYTES) throw noSpace('COS_STATE', slotMiB * MiB, available);
      const state = new StateStore(await target.mount('COS_STATE'));
      // Finish or roll back an upgrade a crash interrupted, which also frees its leftovers.
      await state.settle();
      checkpoint('recovered');
      const free = await state.freeBytes();
      if (free < slotMiB * MiB + SLACK_BYTES) throw noSpace('COS_STATE', slotMiB * MiB, free);

      options.progress.phase('building transition image');
      checkpoint('build-started');
      await buildSlotImage(
        root.rootDir,
        state.image(TRANSITION_IMG),
        'COS_ACTIVE',
        slotMiB,
        root.size.entries,
      );
      checkpoint('image-built');

      // The commit: one atomic write of the GRUB environment switches slots and arms assessment.
      const env = await state.readEnv();
      await state.writeEnv(commitSwitch(env, { active: TRANSITION_IMG, passive: keptImage(env) }, tries));
      checkpoint('committed');
      await state.settle();
      // Keep the boot script current with this version's rules.
      await state.writeFile(GRUB_CFG_PATH, mainGrubConfig());
      options.progress.done();
      await run('sync', []);
      return { digest: root.digest, target: 'active', tries };
    } finally {
      await target.close();
    }
  } finally {
    await root.cleanup();
  }
}

/**
 * Free space in STATE once the leftovers of an interrupted upgrade are gone, read without
 * mounting: free blocks plus the images no name in the GRUB environment points at.
 */
async function offlineStateSpace(device: string): Promise<number> {
  const free = await ext4FreeBytes(device);
  const block = await ext4ReadFile(device, GRUBENV_PATH);
  let env: Record<string, string> = {};
  try {
    env = block === undefined ? {} : decodeGrubEnv(block);
  } catch {
    // An unreadable environment is repaired after mounting; count no leftovers.
    return free;
  }
  const entries = await ext4ListDir(device, IMAGE_DIR);
  const kept = new Set(
    entries
      .filter((entry) => entry.name === env[ENV.activeImage] || entry.name === env[ENV.passiveImage])
      .map((entry) => entry.inode),
  );
  const reclaimable = new Map<number, number>();
  for (const entry of entries) if (!kept.has(entry.inode)) reclaimable.set(entry.inode, entry.size);
  return free + [...reclaimable.values()].reduce((sum, size) => sum + size, 0);
}
