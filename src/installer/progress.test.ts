import { describe, expect, it } from 'vitest';
import { createProgress } from './progress.ts';

function fakeStream(tty: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  let written = '';
  const stream = {
    isTTY: tty,
    write(chunk: string) {
      written += chunk;
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  return { stream, text: () => written };
}

describe('progress', () => {
  it('prints plain lines when not on a terminal: the phase, then its totals', () => {
    const out = fakeStream(false);
    const progress = createProgress(out.stream, () => 0);
    progress.phase('layer 1/2');
    progress.bytes(3 * 1048576);
    progress.file();
    progress.file();
    progress.phase('layer 2/2');
    progress.done();
    expect(out.text()).toBe('layer 1/2\nlayer 1/2: 3.0 MiB pulled, 2 files extracted\nlayer 2/2\n');
  });

  it('rewrites one line on a terminal, at most every 100 ms, and ends it with a newline', () => {
    const out = fakeStream(true);
    let now = 0;
    const progress = createProgress(out.stream, () => now);
    progress.phase('layer 1/1');
    now = 50;
    progress.bytes(1048576);
    now = 200;
    progress.file();
    progress.done();
    const frames = out
      .text()
      .split('\r\x1b[K')
      .filter((frame) => frame !== '');
    expect(frames).toEqual([
      'layer 1/1: 0.0 MiB pulled, 0 files extracted',
      'layer 1/1: 1.0 MiB pulled, 1 files extracted',
      'layer 1/1: 1.0 MiB pulled, 1 files extracted\n',
    ]);
  });
});
