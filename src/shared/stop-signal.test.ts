import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const HERE = import.meta.dirname;

/**
 * Runs `body` in a fresh Node process that has stopSignal and exec's run in scope, sends it
 * SIGTERM `signals` times while a child program runs, and returns how it ended.
 */
async function endOfProcess(
  body: string,
  signals: number,
): Promise<{ code: number | null; signal: string | null }> {
  const script = `
    import { stopSignal } from ${JSON.stringify(join(HERE, 'stop-signal.ts'))};
    import { run } from ${JSON.stringify(join(HERE, 'exec.ts'))};
    ${body}`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ended = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  // The script prints a line once it listens and its child program runs.
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  for (let i = 0; i < signals; i += 1) {
    child.kill('SIGTERM');
    // Two signals pending at once are delivered as one: space them out.
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return ended;
}

describe('stopSignal', () => {
  it('lets the clean stop finish while execa (signal-exit) has a child program running', async () => {
    const ended = await endOfProcess(
      `const stopped = stopSignal();
       void run('sleep', ['2']).catch(() => {});
       console.log('ready');
       await stopped;
       await new Promise((resolve) => setTimeout(resolve, 200)); // a clean stop takes a while
       process.exit(0);`,
      1,
    );
    expect(ended).toEqual({ code: 0, signal: null });
  });

  it('calls onRepeat on a second signal, so a hung stop can be forced', async () => {
    const ended = await endOfProcess(
      `const stopped = stopSignal(() => process.exit(7));
       void run('sleep', ['2']).catch(() => {});
       console.log('ready');
       await stopped;
       await new Promise(() => setTimeout(() => {}, 10_000)); // a stop that hangs`,
      2,
    );
    expect(ended).toEqual({ code: 7, signal: null });
  });
});
