import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitCode, KairosError, describeError } from '../shared/errors.ts';
import { checkpoint } from './checkpoint.ts';
import { measureTree, type TreeSize } from './disk/filesystems.ts';
import type { Progress } from './progress.ts';
import { pullImage } from './source/pull.ts';
import { parseSource } from './source/reference.ts';
import type { RegistryCredentials } from './source/registry-client.ts';

export interface SourceOptions {
  source: string;
  insecureRegistries?: readonly string[];
  credentials?: RegistryCredentials;
  /** Scratch space for the unpacked image (default: the system temp dir). */
  workDir?: string;
  signal?: AbortSignal;
  progress: Progress;
}

export interface PreparedRoot {
  rootDir: string;
  digest: string;
  size: TreeSize;
  cleanup(): Promise<void>;
}

/**
 * The OS tree of a source, complete and verified, in scratch space: nothing on the target disk
 * is touched before this succeeds.
 */
export async function prepareRoot(options: SourceOptions): Promise<PreparedRoot> {
  const source = parseSource(options.source);
  if (source.kind === 'dir') {
    const info = await stat(source.path).catch(() => undefined);
    if (info?.isDirectory() !== true) {
      throw new KairosError('SOURCE_INVALID', `source directory ${source.path} does not exist`, {
        exitCode: ExitCode.usage,
      });
    }
    options.progress.phase(`measuring ${source.path}`);
    const size = await measureTree(source.path);
    options.progress.done();
    return { rootDir: source.path, digest: '', size, cleanup: async () => {} };
  }
  const scratch = await mkdtemp(join(options.workDir ?? tmpdir(), `kairos-mesh-work-${process.pid}-`));
  const cleanup = (): Promise<void> => rm(scratch, { recursive: true, force: true });
  try {
    const rootDir = join(scratch, 'rootfs');
    const pulled = await pullImage(source, rootDir, {
      scratchDir: scratch,
      progress: options.progress,
      ...(options.insecureRegistries === undefined ? {} : { insecureRegistries: options.insecureRegistries }),
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    await rm(join(scratch, 'archive'), { recursive: true, force: true });
    const size = await measureTree(rootDir);
    checkpoint('pulled');
    return { rootDir, digest: pulled.digest, size, cleanup };
  } catch (error) {
    await cleanup();
    if (error instanceof KairosError) throw error;
    // File system errors while unpacking (ENOSPC, EACCES…): one line naming the place.
    throw new KairosError(
      'UNPACK_FAILED',
      `cannot unpack the image into ${scratch}: ${describeError(error)}`,
      {
        exitCode: ExitCode.ioErr,
        cause: error,
      },
    );
  }
}
