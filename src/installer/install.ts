import { copyFile, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitCode, KairosError } from '../shared/errors.ts';
import { run } from '../shared/exec.ts';
import { ENV } from './boot-rules.ts';
import { buildSlotImage, buildSquashfs, copyImage, makeFilesystem } from './disk/filesystems.ts';
import { assertNotInUse, diskSize } from './disk/partitions.ts';
import {
  EFI_GRUB_CFG_PATH,
  GRUB_CFG_PATH,
  IMAGE_DIR,
  RECOVERY_IMAGE,
  efiStubConfig,
  mainGrubConfig,
} from './grub-config.ts';
import { planLayout, sgdiskArgs, type DiskLayout } from './layout.ts';
import { prepareRoot, type SourceOptions } from './prepare-root.ts';
import { ACTIVE_IMG, PASSIVE_IMG } from './slot-switch.ts';
import { StateStore } from './state-store.ts';
import { Target } from './target.ts';

export interface InstallOptions extends SourceOptions {
  device: string;
  configFile?: string;
  /** Asked before the disk is erased; false stops the install. */
  confirm: (question: string) => Promise<boolean>;
}

export interface InstallResult {
  device: string;
  digest: string;
  layout: DiskLayout;
}

export const OEM_CONFIG_NAME = '90_custom.yaml';

export async function install(options: InstallOptions): Promise<InstallResult> {
  const size = await diskSize(options.device);
  await assertNotInUse(options.device);
  const root = await prepareRoot(options);
  try {
    // Refuse before touching the disk.
    const layout = planLayout(root.size.contentBytes, size);
    if (!(await options.confirm(`erase ALL data on ${options.device} and install ${options.source}?`))) {
      throw new KairosError('ABORTED', 'install cancelled: nothing was changed', {
        exitCode: ExitCode.failure,
      });
    }
    options.progress.phase(`partitioning ${options.device}`);
    await run('sgdisk', [...sgdiskArgs(layout), options.device]);
    // A block device's kernel table must learn the new partitions (files need no telling).
    if (!(await stat(options.device)).isFile())
      await run('partx', ['-u', options.device], { allowFailure: true });
    const target = await Target.open(options.device);
    try {
      for (const part of layout.partitions)
        await makeFilesystem(await target.partition(part.label), part.fs, part.label);

      await writeEfiStub(await target.partition('COS_GRUB'), efiStubConfig());

      const oem = await target.mount('COS_OEM');
      if (options.configFile !== undefined) await copyFile(options.configFile, join(oem, OEM_CONFIG_NAME));

      options.progress.phase('writing recovery image');
      const recovery = await target.mount('COS_RECOVERY');
      await mkdir(join(recovery, IMAGE_DIR), { recursive: true });
      await buildSquashfs(root.rootDir, join(recovery, IMAGE_DIR, RECOVERY_IMAGE));

      options.progress.phase('writing active and passive images');
      const state = new StateStore(await target.mount('COS_STATE'));
      await mkdir(state.imageDir, { recursive: true });
      await buildSlotImage(
        root.rootDir,
        state.image(ACTIVE_IMG),
        'COS_ACTIVE',
        layout.slotMiB,
        root.size.entries,
      );
      await copyImage(state.image(ACTIVE_IMG), state.image(PASSIVE_IMG), 'COS_PASSIVE');
      await state.writeFile(GRUB_CFG_PATH, mainGrubConfig());
      await state.writeEnv({
        [ENV.activeImage]: ACTIVE_IMG,
        [ENV.passiveImage]: PASSIVE_IMG,
        [ENV.defaultSlot]: 'active',
        [ENV.tries]: '',
        [ENV.upgrade]: '',
        [ENV.fallbackReason]: '',
      });
      options.progress.done();
      await run('sync', []);
    } finally {
      await target.close();
    }
    return { device: options.device, digest: root.digest, layout };
  } finally {
    await root.cleanup();
  }
}

/** The vfat EFI partition is written with mtools: no vfat driver or mount needed. */
async function writeEfiStub(device: string, text: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kairos-mesh-efi-'));
  try {
    const file = join(dir, 'grub.cfg');
    await writeFile(file, text);
    await run('mmd', ['-i', device, '::/EFI', '::/EFI/BOOT']);
    await run('mcopy', ['-o', '-i', device, file, `::${EFI_GRUB_CFG_PATH}`]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
