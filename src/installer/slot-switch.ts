import { ENV, armAssessment, parseTries } from './boot-rules.ts';
import type { GrubEnv } from './grubenv.ts';

/**
 * The crash-consistent A/B switch (pure). STATE holds image files; the GRUB environment names
 * which file is active and which passive, and rewriting it (temp file, fsync, rename) is the one
 * atomic commit point. Files are never renamed away from under a name the environment still
 * points at: canonical names are reached with hard links (link to a temp name, rename over),
 * and the environment is updated after each. So at every instant both names in the
 * environment exist and hold whole, fsynced images: the old pair before the commit, the new
 * pair after it.
 *
 *   build transition.img (+ fsync)        crash → next run deletes it: rolled back
 *   commit env: active=transition.img,    crash → next run finishes the steps below
 *               passive=<kept image>, upgrade=switching, assessment armed
 *   passive.img ← link(kept); env passive=passive.img
 *   active.img  ← link(transition.img); env active=active.img, upgrade cleared
 *   delete files no name points at
 */
export const ACTIVE_IMG = 'active.img';
export const PASSIVE_IMG = 'passive.img';
export const TRANSITION_IMG = 'transition.img';
export const TRANSITION_PASSIVE_IMG = 'transition-passive.img';
export const SWITCHING = 'switching';

export type FinishStep =
  | { op: 'link'; from: string; to: string }
  | { op: 'env'; set: Record<string, string> }
  | { op: 'unlink'; file: string };

/** The image an upgrade keeps as passive: the last one known good. */
export function keptImage(env: GrubEnv): string {
  const armed = parseTries(env[ENV.tries]) !== undefined;
  const fellBack = env[ENV.defaultSlot] === 'passive';
  const active = env[ENV.activeImage] ?? ACTIVE_IMG;
  const passive = env[ENV.passiveImage] ?? PASSIVE_IMG;
  return armed || fellBack ? passive : active;
}

/** The commit record of an upgrade (or reset, with `tries` 0: nothing to assess). */
export function commitSwitch(
  env: GrubEnv,
  images: { active: string; passive: string },
  tries: number,
): Record<string, string> {
  const switched = {
    ...env,
    [ENV.activeImage]: images.active,
    [ENV.passiveImage]: images.passive,
    [ENV.upgrade]: SWITCHING,
  };
  if (tries > 0) return armAssessment(switched, tries);
  return { ...switched, [ENV.tries]: '', [ENV.defaultSlot]: 'active', [ENV.fallbackReason]: '' };
}

/**
 * The next step that brings STATE to its steady form, given the environment and the image
 * files present (name → inode number); undefined when done. Every step is idempotent, so a run killed anywhere can simply
 * start over from the disk it left.
 */
export function nextFinishStep(env: GrubEnv, files: ReadonlyMap<string, number>): FinishStep | undefined {
  const active = env[ENV.activeImage] ?? ACTIVE_IMG;
  const passive = env[ENV.passiveImage] ?? PASSIVE_IMG;
  if (env[ENV.upgrade] === SWITCHING) {
    if (passive !== PASSIVE_IMG) {
      // A link made by a run that died before updating the env is kept, not made again.
      if (!sameFile(files, passive, PASSIVE_IMG)) return { op: 'link', from: passive, to: PASSIVE_IMG };
      return { op: 'env', set: { [ENV.passiveImage]: PASSIVE_IMG } };
    }
    if (active !== ACTIVE_IMG) {
      if (!sameFile(files, active, ACTIVE_IMG)) return { op: 'link', from: active, to: ACTIVE_IMG };
      return { op: 'env', set: { [ENV.activeImage]: ACTIVE_IMG } };
    }
    return { op: 'env', set: { [ENV.upgrade]: '' } };
  }
  for (const file of [...files.keys()].sort()) {
    if (file !== active && file !== passive) return { op: 'unlink', file };
  }
  return undefined;
}

function sameFile(files: ReadonlyMap<string, number>, a: string, b: string): boolean {
  const inode = files.get(a);
  return inode !== undefined && inode === files.get(b);
}
