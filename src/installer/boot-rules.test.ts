import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  BOOT_SLOTS,
  ENV,
  armAssessment,
  assessmentStatus,
  markGood,
  selectSlot,
  simulateBoot,
} from './boot-rules.ts';

const base = { [ENV.activeImage]: 'active.img', [ENV.passiveImage]: 'passive.img' };

function bootTimes(
  env: Record<string, string>,
  times: number,
): { env: Record<string, string>; slots: string[] } {
  const slots: string[] = [];
  let current = env;
  for (let i = 0; i < times; i += 1) {
    const outcome = simulateBoot(current);
    slots.push(outcome.slot);
    current = outcome.env;
  }
  return { env: current, slots };
}

describe('boot assessment', () => {
  it('an unarmed system boots active and keeps doing so', () => {
    expect(bootTimes(base, 5).slots).toEqual(Array<string>(5).fill('active'));
  });

  it('N failed boots fall back to passive for good and record why', () => {
    for (const tries of [1, 2, 3, 5, 9]) {
      const { env, slots } = bootTimes(armAssessment(base, tries), tries + 3);
      expect(slots).toEqual([...Array<string>(tries).fill('active'), 'passive', 'passive', 'passive']);
      expect(env[ENV.fallbackReason]).toBe(`active image was not marked good after ${tries} boots`);
      expect(assessmentStatus(env)).toMatchObject({
        armed: false,
        defaultSlot: 'passive',
        nextBoot: 'passive',
      });
    }
  });

  it('mark-good at any point before the tries run out keeps active forever', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), (tries, markAfter) => {
        fc.pre(markAfter <= tries);
        const booted = bootTimes(armAssessment(base, tries), markAfter);
        const marked = markGood(booted.env, new Date(0));
        const after = bootTimes(marked, 12);
        expect(after.slots.every((slot) => slot === 'active')).toBe(true);
        expect(after.env[ENV.fallbackReason]).toBe('');
      }),
    );
  });

  it('re-arming resets a stale counter and a recorded fallback', () => {
    const fellBack = bootTimes(armAssessment(base, 2), 3).env;
    const rearmed = armAssessment(fellBack, 3);
    expect(bootTimes(rearmed, 3).slots).toEqual(['active', 'active', 'active']);
  });

  it('select is persistent and disarms', () => {
    for (const slot of BOOT_SLOTS) {
      const env = selectSlot(armAssessment(base, 3), slot);
      expect(bootTimes(env, 4).slots).toEqual(Array<string>(4).fill(slot));
    }
  });

  it('every outcome has the other two entries as fallbacks', () => {
    const outcome = simulateBoot(armAssessment(base, 1));
    expect(outcome.fallbacks).toEqual(['passive', 'recovery']);
  });
});
