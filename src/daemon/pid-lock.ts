import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode, KairosError } from '../shared/errors.ts';

/** One daemon per data dir: `<data-dir>/daemon.pid`, taken over when its owner is dead. */
export class PidLock {
  readonly path: string;

  constructor(dataDir: string) {
    this.path = join(dataDir, 'daemon.pid');
  }

  async acquire(): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        const handle = await open(this.path, 'wx', 0o600);
        await handle.writeFile(`${process.pid}\n`);
        await handle.close();
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const owner = Number((await readFile(this.path, 'utf8').catch(() => '')).trim());
        if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isRunning(owner)) {
          throw new KairosError(
            'DAEMON_RUNNING',
            `a kairos-mesh daemon (pid ${owner}) already uses ${this.path.slice(0, -'/daemon.pid'.length)}`,
            {
              exitCode: ExitCode.tempFail,
            },
          );
        }
        await rm(this.path, { force: true });
      }
    }
    throw new KairosError('DAEMON_LOCK', `cannot take ${this.path}`, { exitCode: ExitCode.tempFail });
  }

  async release(): Promise<void> {
    await rm(this.path, { force: true });
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
