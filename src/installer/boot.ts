import { access } from 'node:fs/promises';
import {
  ENV,
  assessmentStatus,
  markGood,
  selectSlot,
  simulateBoot,
  type AssessmentStatus,
  type BootSlot,
} from './boot-rules.ts';
import { readOsRelease } from './disk/filesystems.ts';
import { notKairosDisk } from './disk/partitions.ts';
import { IMAGE_DIR, RECOVERY_IMAGE } from './grub-config.ts';
import { SWITCHING } from './slot-switch.ts';
import { StateStore } from './state-store.ts';
import { Target } from './target.ts';
import { join } from 'node:path';

export interface SlotInfo {
  file: string;
  present: boolean;
  version: string | null;
}

export interface BootStatus extends AssessmentStatus {
  active: SlotInfo;
  passive: SlotInfo;
  recovery: { present: boolean };
  upgradeInterrupted: boolean;
}

async function withState<T>(
  device: string | undefined,
  work: (state: StateStore, target: Target) => Promise<T>,
  options: { readOnly?: boolean } = {},
): Promise<T> {
  const target = await Target.open(device);
  try {
    const state = new StateStore(await target.mount('COS_STATE', options));
    const env = await state.readEnv();
    if (env[ENV.activeImage] === undefined) throw notKairosDisk(device ?? 'this system');
    return await work(state, target);
  } finally {
    await target.close();
  }
}

async function slotInfo(state: StateStore, file: string): Promise<SlotInfo> {
  const path = state.image(file);
  const present = await access(path).then(
    () => true,
    () => false,
  );
  const release = present ? await readOsRelease(path) : {};
  return { file, present, version: release['VERSION'] ?? release['VERSION_ID'] ?? null };
}

export async function bootStatus(device?: string): Promise<BootStatus> {
  return withState(
    device,
    async (state, target) => {
      const env = await state.readEnv();
      const recoveryDir = await target.mount('COS_RECOVERY', { readOnly: true });
      return {
        ...assessmentStatus(env),
        active: await slotInfo(state, env[ENV.activeImage]!),
        passive: await slotInfo(state, env[ENV.passiveImage] ?? ''),
        recovery: {
          present: await access(join(recoveryDir, IMAGE_DIR, RECOVERY_IMAGE)).then(
            () => true,
            () => false,
          ),
        },
        upgradeInterrupted: env[ENV.upgrade] === SWITCHING,
      };
    },
    { readOnly: true },
  );
}

/**
 * Run by the daemon once the node is healthy (mesh joined, role applied). It also finishes the
 * file renames of an upgrade a power cut interrupted (GRUB already booted the right image).
 */
export async function bootMarkGood(device?: string, now: Date = new Date()): Promise<AssessmentStatus> {
  return withState(device, async (state) => {
    await state.settle();
    const env = markGood(await state.readEnv(), now);
    await state.writeEnv(env);
    return assessmentStatus(env);
  });
}

export async function bootSelect(slot: BootSlot, device?: string): Promise<AssessmentStatus> {
  return withState(device, async (state) => {
    const env = selectSlot(await state.readEnv(), slot);
    await state.writeEnv(env);
    return assessmentStatus(env);
  });
}

/** One simulated boot: what GRUB's script does to the environment (tests, `boot simulate`). */
export async function bootSimulate(device?: string): Promise<{ slot: BootSlot; status: AssessmentStatus }> {
  return withState(device, async (state) => {
    const outcome = simulateBoot(await state.readEnv());
    await state.writeEnv(outcome.env);
    return { slot: outcome.slot, status: assessmentStatus(outcome.env) };
  });
}
