import { run } from '../../shared/exec.ts';

/**
 * Reads an unmounted ext4 partition without mounting it (a rw mount alone rewrites the
 * superblock): used for checks that must leave the disk byte-for-byte unchanged.
 */
export async function ext4FreeBytes(device: string): Promise<number> {
  const header = (await run('dumpe2fs', ['-h', device])).stdout;
  const field = (name: string): number =>
    Number(new RegExp(`^${name}:\\s+(\\d+)$`, 'm').exec(header)?.[1] ?? 0);
  return field('Free blocks') * field('Block size');
}

export interface Ext4DirEntry {
  name: string;
  inode: number;
  size: number;
}

export async function ext4ListDir(device: string, dir: string): Promise<Ext4DirEntry[]> {
  const result = await run('debugfs', ['-R', `ls -l ${dir}`, device], { allowFailure: true });
  const entries: Ext4DirEntry[] = [];
  for (const line of result.stdout.split('\n')) {
    const match = /^\s*(\d+)\s+\d+\s+\(\d+\)\s+\d+\s+\d+\s+(\d+)\s+\S+\s+\S+\s+(.+)$/.exec(line);
    if (match === null || match[3] === '.' || match[3] === '..') continue;
    entries.push({ inode: Number(match[1]), size: Number(match[2]), name: match[3]! });
  }
  return entries;
}

export async function ext4ReadFile(device: string, path: string): Promise<Buffer | undefined> {
  const result = await run('debugfs', ['-R', `cat ${path}`, device], { allowFailure: true });
  return result.exitCode === 0 && result.stdout !== '' ? Buffer.from(result.stdout, 'utf8') : undefined;
}
