import { describe, expect, it } from 'vitest';
import { CommitQueue } from './commit-queue.ts';

/** A store whose writes finish only when the test says so. */
function manualStore() {
  const writes: { commits: string[]; sync: boolean; finish: (error?: Error) => void }[] = [];
  const failures: unknown[] = [];
  const queue = new CommitQueue<string>(
    (commits, sync) =>
      new Promise<void>((resolve, reject) => {
        writes.push({ commits, sync, finish: (error) => (error === undefined ? resolve() : reject(error)) });
      }),
    (error) => failures.push(error),
  );
  return { queue, writes, failures };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('CommitQueue', () => {
  it('drained waits for what was queued when asked, not for commits queued after', async () => {
    const { queue, writes } = manualStore();
    void queue.enqueue('a', false);
    void queue.enqueue('b', false);
    let drained = false;
    let idle = false;
    void queue.drained().then(() => (drained = true));
    void queue.enqueue('c', false);
    writes[0]!.finish();
    await tick();
    void queue.idle().then(() => (idle = true));
    void queue.enqueue('d', false); // queued after the call: drained does not wait for it
    expect(drained).toBe(false);
    writes[1]!.finish();
    await tick();
    expect(drained).toBe(true);
    expect(writes.map((write) => write.commits)).toEqual([['a'], ['b', 'c'], ['d']]);
    void queue.enqueue('e', false);
    writes[2]!.finish();
    await tick();
    expect(idle).toBe(false); // e is being written now
    writes[3]!.finish();
    await tick();
    await tick();
    expect(idle).toBe(true);
    await expect(queue.drained()).resolves.toBeUndefined();
  });

  it('writes one group at a time, in queue order, grouping what arrives during a write', async () => {
    const { queue, writes } = manualStore();
    const done: string[] = [];
    void queue.enqueue('a', false).then(() => done.push('a'));
    void queue.enqueue('b', false).then(() => done.push('b'));
    void queue.enqueue('c', false).then(() => done.push('c'));
    expect(writes.map((write) => write.commits)).toEqual([['a']]);
    expect(queue.pending).toBe(3);

    writes[0]!.finish();
    await tick();
    expect(done).toEqual(['a']);
    expect(writes.map((write) => write.commits)).toEqual([['a'], ['b', 'c']]);

    writes[1]!.finish();
    await tick();
    expect(done).toEqual(['a', 'b', 'c']);
    expect(queue.pending).toBe(0);
  });

  it('fsyncs a group when any commit in it asks for it', async () => {
    const { queue, writes } = manualStore();
    void queue.enqueue('remote-1', false);
    void queue.enqueue('remote-2', false);
    void queue.enqueue('own', true);
    writes[0]!.finish();
    await tick();
    expect(writes.map((write) => write.sync)).toEqual([false, true]);
  });

  it('idle() waits for commits queued behind the write in flight', async () => {
    const { queue, writes } = manualStore();
    void queue.enqueue('a', false);
    void queue.enqueue('b', false);
    let idle = false;
    void queue.idle().then(() => (idle = true));
    writes[0]!.finish();
    await tick();
    expect(idle).toBe(false);
    writes[1]!.finish();
    await tick();
    expect(idle).toBe(true);
  });

  it('after a failed write refuses every later commit, so the disk keeps a prefix', async () => {
    const { queue, writes, failures } = manualStore();
    const first = queue.enqueue('a', false);
    const second = queue.enqueue('b', true);
    const broken = new Error('disk full');
    writes[0]!.finish(broken);
    await expect(first).rejects.toBe(broken);
    await expect(second).rejects.toBe(broken);
    await expect(queue.enqueue('c', true)).rejects.toBe(broken);
    await queue.idle();
    expect(writes).toHaveLength(1);
    expect(failures).toEqual([broken]);
    expect(queue.pending).toBe(0);
  });

  it('a failure nobody waits for is reported once, not left unhandled', async () => {
    const { queue, writes, failures } = manualStore();
    void queue.enqueue('a', false);
    void queue.enqueue('b', false);
    writes[0]!.finish(new Error('io'));
    await queue.idle();
    await tick();
    expect(failures).toHaveLength(1);
  });
});
