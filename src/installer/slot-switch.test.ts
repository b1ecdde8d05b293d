import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ENV, simulateBoot } from './boot-rules.ts';
import {
  ACTIVE_IMG,
  PASSIVE_IMG,
  TRANSITION_IMG,
  commitSwitch,
  keptImage,
  nextFinishStep,
  type FinishStep,
} from './slot-switch.ts';

/** STATE as a model: names → inode, inode → content; env as a map. */
interface Model {
  env: Record<string, string>;
  names: Map<string, number>;
  content: Map<number, string>;
  nextInode: number;
}

function installed(): Model {
  return {
    env: { [ENV.activeImage]: ACTIVE_IMG, [ENV.passiveImage]: PASSIVE_IMG },
    names: new Map([
      [ACTIVE_IMG, 1],
      [PASSIVE_IMG, 2],
    ]),
    content: new Map([
      [1, 'v1'],
      [2, 'v0'],
    ]),
    nextInode: 3,
  };
}

function apply(model: Model, step: FinishStep): void {
  if (step.op === 'env') model.env = { ...model.env, ...step.set };
  if (step.op === 'unlink') model.names.delete(step.file);
  if (step.op === 'link') model.names.set(step.to, model.names.get(step.from)!);
}

/** The upgrade as a list of atomic actions; a crash can fall between any two. */
function upgradeActions(model: Model): (() => void)[] {
  return [
    () => {
      model.names.set(TRANSITION_IMG, model.nextInode);
      model.content.set(model.nextInode, 'v2');
      model.nextInode += 1;
    },
    () => {
      model.env = commitSwitch(model.env, { active: TRANSITION_IMG, passive: keptImage(model.env) }, 3);
    },
  ];
}

function finish(model: Model): number {
  let steps = 0;
  for (
    let step = nextFinishStep(model.env, model.names);
    step;
    step = nextFinishStep(model.env, model.names)
  ) {
    apply(model, step);
    steps += 1;
    if (steps > 20) throw new Error('finish does not converge');
  }
  return steps;
}

function bootedContent(model: Model): string | undefined {
  const slot = simulateBoot(model.env).slot;
  const file = model.env[slot === 'passive' ? ENV.passiveImage : ENV.activeImage]!;
  const inode = model.names.get(file);
  return inode === undefined ? undefined : model.content.get(inode);
}

describe('crash-consistent slot switch', () => {
  it('a full run ends in the canonical names: active v2, passive v1, nothing else', () => {
    const model = installed();
    for (const action of upgradeActions(model)) action();
    finish(model);
    expect([...model.names.keys()].sort()).toEqual([ACTIVE_IMG, PASSIVE_IMG]);
    expect(model.content.get(model.names.get(ACTIVE_IMG)!)).toBe('v2');
    expect(model.content.get(model.names.get(PASSIVE_IMG)!)).toBe('v1');
    expect(model.env[ENV.upgrade]).toBe('');
    expect(model.env[ENV.tries]).toBe('3');
  });

  it('a crash after any step leaves both named images present and a bootable old or new image', () => {
    // Crash points: after k upgrade actions, then after j finish steps; then a restarted finish.
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: 0, max: 10 }),
        (k, j, j2) => {
          const model = installed();
          upgradeActions(model)
            .slice(0, k)
            .forEach((action) => {
              action();
            });
          for (let i = 0; i < j; i += 1) {
            const step = nextFinishStep(model.env, model.names);
            if (step === undefined) break;
            apply(model, step);
            // Invariant at every instant: both names the env points at exist.
            expect(model.names.has(model.env[ENV.activeImage]!)).toBe(true);
            expect(model.names.has(model.env[ENV.passiveImage]!)).toBe(true);
          }
          const booted = bootedContent(model);
          expect(booted === 'v1' || booted === 'v2').toBe(true);
          expect(booted).toBe(k === 2 ? 'v2' : 'v1');
          // A second crash during recovery, then a full recovery.
          for (let i = 0; i < j2; i += 1) {
            const step = nextFinishStep(model.env, model.names);
            if (step === undefined) break;
            apply(model, step);
          }
          finish(model);
          expect([...model.names.keys()].sort()).toEqual([ACTIVE_IMG, PASSIVE_IMG]);
          expect(model.content.get(model.names.get(ACTIVE_IMG)!)).toBe(k === 2 ? 'v2' : 'v1');
          expect(model.content.get(model.names.get(PASSIVE_IMG)!)).toBe(k === 2 ? 'v1' : 'v0');
        },
      ),
    );
  });

  it('a re-made link from a dead run is reused, not linked again', () => {
    const model = installed();
    for (const action of upgradeActions(model)) action();
    model.names.set(PASSIVE_IMG, model.names.get(ACTIVE_IMG)!);
    expect(nextFinishStep(model.env, model.names)).toEqual({
      op: 'env',
      set: { [ENV.passiveImage]: PASSIVE_IMG },
    });
  });

  it('keeps the last known-good image as passive', () => {
    const env = { [ENV.activeImage]: 'a', [ENV.passiveImage]: 'p' };
    expect(keptImage(env)).toBe('a');
    expect(keptImage({ ...env, [ENV.tries]: '2' })).toBe('p');
    expect(keptImage({ ...env, [ENV.defaultSlot]: 'passive' })).toBe('p');
  });
});
