import { describe, expect, it } from 'vitest';
import type { Candidate } from './feed-check.ts';
import { RecentEntries } from './recent-entries.ts';

const candidate = (author: string, seq: number, encoded = `{"a":"${author}","s":${seq}}`): Candidate =>
  ({ entry: { author, seq }, encoded, hash: '' }) as Candidate;

describe('recent entries', () => {
  it('reads a whole range from memory, and nothing when any entry of it is missing', () => {
    const recent = new RecentEntries(1000, 1 << 20);
    recent.add([candidate('a', 1), candidate('a', 2), candidate('a', 3)], 0);
    expect(recent.read('a', 2, 3, 10, 0)?.map((e) => e.seq)).toEqual([2, 3]);
    expect(recent.read('a', 1, 3, 2, 0)?.map((e) => e.seq)).toEqual([1, 2]);
    expect(recent.read('a', 3, 4, 10, 0)).toBeUndefined();
    expect(recent.read('b', 1, 1, 10, 0)).toBeUndefined();
    expect(recent.read('a', 1, 1, 10, 0)).toEqual([{ author: 'a', seq: 1, encoded: '{"a":"a","s":1}' }]);
    recent.forget('a', 2);
    expect(recent.read('a', 1, 3, 10, 0)).toBeUndefined();
    expect(recent.ofAuthor('a', 10, 0).map((e) => e.seq)).toEqual([1, 3]);
    expect(recent.ofAuthor('a', 1, 0).map((e) => e.seq)).toEqual([3]);
  });

  it('forgets entries past their age and beyond the byte budget, oldest first', () => {
    const recent = new RecentEntries(1000, 30);
    recent.add([candidate('a', 1, 'x'.repeat(10))], 0);
    recent.add([candidate('a', 2, 'y'.repeat(10))], 500);
    expect(recent.read('a', 1, 2, 10, 900)).toHaveLength(2);
    expect(recent.read('a', 1, 1, 10, 1001)).toBeUndefined();
    expect(recent.read('a', 2, 2, 10, 1001)).toHaveLength(1);
    recent.add([candidate('b', 1, 'z'.repeat(25))], 1002);
    expect(recent.read('a', 2, 2, 10, 1002)).toBeUndefined();
    expect(recent.read('b', 1, 1, 10, 1002)).toHaveLength(1);
  });
});
