import { describe, expect, it } from 'vitest';
import { ago, formatTable } from './output.ts';

describe('cli output', () => {
  it('aligns columns', () => {
    expect(
      formatTable(
        ['A', 'LONG'],
        [
          ['xyz', '1'],
          ['p', '22'],
        ],
      ),
    ).toBe('A    LONG\nxyz  1\np    22');
  });
  it('says how long ago', () => {
    expect(ago(undefined)).toBe('never');
    expect(ago(1000, 4000)).toBe('3s ago');
    expect(ago(0 + 1, 125_001)).toBe('2m ago');
  });
});
