import { describe, expect, it } from 'vitest';
import { dialIsDue, type DialCandidate, type DialTiming } from './dial-policy.ts';

const timing: DialTiming = {
  newMemberGraceMs: 1_000,
  yieldMs: 3_000,
  fillInAfterMs: 5_000,
  fillInSpreadMs: 20_000,
};
const lower = 'A';
const higher = 'B';

function candidate(overrides: Partial<DialCandidate>): DialCandidate {
  return {
    selfId: lower,
    peerId: higher,
    knownSince: 0,
    aliveSecondHandSince: undefined,
    spread: 0,
    ...overrides,
  };
}

describe('dialIsDue', () => {
  it('gives a member nobody vouches for a grace for its voucher, then dials it', () => {
    expect(dialIsDue(candidate({}), 999, timing)).toBe(false);
    expect(dialIsDue(candidate({}), 1_000, timing)).toBe(true);
  });

  it('lets the lower peer id dial first: the higher one waits the yield', () => {
    const fromHigher = candidate({ selfId: higher, peerId: lower });
    expect(dialIsDue(fromHigher, 2_999, timing)).toBe(false);
    expect(dialIsDue(fromHigher, 3_000, timing)).toBe(true);
  });

  it('fills in a member alive second-hand only after the fill-in delay plus its spread', () => {
    const spreadHalf = candidate({ aliveSecondHandSince: 10_000, spread: 0.5 });
    expect(dialIsDue(spreadHalf, 10_000 + 5_000 + 10_000 - 1, timing)).toBe(false);
    expect(dialIsDue(spreadHalf, 10_000 + 5_000 + 10_000, timing)).toBe(true);
  });

  it('counts the fill-in delay from when the member became alive second-hand, not when it was learned', () => {
    const learnedLongAgo = candidate({ knownSince: 0, aliveSecondHandSince: 60_000 });
    expect(dialIsDue(learnedLongAgo, 60_000 + 4_999, timing)).toBe(false);
  });

  it('adds the yield to the fill-in of the higher peer id', () => {
    const fromHigher = candidate({ selfId: higher, peerId: lower, aliveSecondHandSince: 0 });
    expect(dialIsDue(fromHigher, 5_000 + 2_999, timing)).toBe(false);
    expect(dialIsDue(fromHigher, 5_000 + 3_000, timing)).toBe(true);
  });
});
