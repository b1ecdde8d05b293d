import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitCode, KairosError } from '../shared/errors.ts';
import { run } from '../shared/exec.ts';
import { buildSlotImage, extractSquashfs, makeFilesystem, measureTree } from './disk/filesystems.ts';
import { mountPointOf } from './disk/mounts.ts';
import { GRUB_CFG_PATH, IMAGE_DIR, RECOVERY_IMAGE, mainGrubConfig } from './grub-config.ts';
import { MiB, slotSizeMiB } from './layout.ts';
import type { Progress } from './progress.ts';
import { ACTIVE_IMG, TRANSITION_IMG, TRANSITION_PASSIVE_IMG, commitSwitch } from './slot-switch.ts';
import { StateStore } from './state-store.ts';
import { Target } from './target.ts';

export interface ResetOptions {
  device?: string;
  resetOem?: boolean;
  workDir?: string;
  progress: Progress;
  confirm: (question: string) => Promise<boolean>;
}

/**
 * Back to factory state from the recovery image: active and passive rebuilt from it (through
 * the same crash-consistent switch as an upgrade), PERSISTENT formatted, OEM kept unless asked.
 */
export async function reset(options: ResetOptions): Promise<{ resetOem: boolean }> {
  const target = await Target.open(options.device);
  const scratch = await mkdtemp(join(options.workDir ?? tmpdir(), `kairos-mesh-work-${process.pid}-`));
  try {
    const persistent = await target.partition('COS_PERSISTENT');
    const oem = options.resetOem === true ? await target.partition('COS_OEM') : undefined;
    for (const device of [persistent, oem]) {
      if (device !== undefined && (await mountPointOf(device)) !== undefined) {
        throw new KairosError('DEVICE_BUSY', `${device} is mounted: run reset from the recovery system`, {
          exitCode: ExitCode.tempFail,
        });
      }
    }
    const what = options.resetOem === true ? 'PERSISTENT and OEM' : 'PERSISTENT';
    if (!(await options.confirm(`erase ${what} and restore the OS from recovery?`))) {
      throw new KairosError('ABORTED', 'reset cancelled: nothing was changed', {
        exitCode: ExitCode.failure,
      });
    }
    options.progress.phase('reading recovery image');
    const recovery = await target.mount('COS_RECOVERY', { readOnly: true });
    const rootDir = join(scratch, 'rootfs');
    await extractSquashfs(join(recovery, IMAGE_DIR, RECOVERY_IMAGE), rootDir);
    const size = await measureTree(rootDir);
    const slotMiB = slotSizeMiB(size.contentBytes);

    const state = new StateStore(await target.mount('COS_STATE'));
    await state.settle();
    options.progress.phase('rebuilding active image');
    await buildSlotImage(rootDir, state.image(TRANSITION_IMG), 'COS_ACTIVE', slotMiB, size.entries);
    // Both names point at the rebuilt image first, then passive gets its own copy: at no point
    // does more than one new image sit beside the old pair.
    await state.writeEnv(
      commitSwitch(await state.readEnv(), { active: TRANSITION_IMG, passive: TRANSITION_IMG }, 0),
    );
    await state.settle();
    options.progress.phase('rebuilding passive image');
    if ((await state.freeBytes()) < slotMiB * MiB) {
      throw new KairosError('NO_SPACE', 'not enough space on COS_STATE for the passive image', {
        exitCode: ExitCode.ioErr,
      });
    }
    await buildSlotImage(rootDir, state.image(TRANSITION_PASSIVE_IMG), 'COS_PASSIVE', slotMiB, size.entries);
    await state.writeEnv(
      commitSwitch(await state.readEnv(), { active: ACTIVE_IMG, passive: TRANSITION_PASSIVE_IMG }, 0),
    );
    await state.settle();
    await state.writeFile(GRUB_CFG_PATH, mainGrubConfig());

    options.progress.phase(`formatting ${what}`);
    await makeFilesystem(persistent, 'ext4', 'COS_PERSISTENT');
    if (oem !== undefined) await makeFilesystem(oem, 'ext4', 'COS_OEM');
    options.progress.done();
    await run('sync', []);
    return { resetOem: options.resetOem === true };
  } finally {
    await target.close();
    await rm(scratch, { recursive: true, force: true });
  }
}
