import { copyFile, lstat, open, readdir, rename, truncate } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run } from '../../shared/exec.ts';
import { ExitCode, KairosError } from '../../shared/errors.ts';
import { MiB, entryCostBytes, type FsType } from '../layout.ts';

/** mkfs, images and checks, all through the exec wrapper (no shell). */
export async function makeFilesystem(device: string, fs: FsType, label: string): Promise<void> {
  if (fs === 'vfat') await run('mkfs.vfat', ['-F', '32', '-n', label, device]);
  else await run('mkfs.ext4', ['-q', '-F', '-L', label, device]);
}

export interface TreeSize {
  contentBytes: number;
  entries: number;
}

/** What a root tree costs on ext4 (hard links counted once). */
export async function measureTree(root: string): Promise<TreeSize> {
  const seen = new Set<number>();
  let contentBytes = entryCostBytes(0);
  let entries = 1;
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const info = await lstat(path);
      entries += 1;
      if (info.nlink > 1 && !info.isDirectory()) {
        if (seen.has(info.ino)) continue;
        seen.add(info.ino);
      }
      contentBytes += entryCostBytes(info.isSymbolicLink() && info.size < 60 ? 0 : info.size);
      if (info.isDirectory()) await walk(path);
    }
  };
  await walk(root);
  return { contentBytes, entries };
}

/**
 * A read-only root image: ext4 without a journal (it is never written while in use), built
 * straight from the tree with `mkfs.ext4 -d` (no mount), checked with e2fsck, fsynced.
 */
export async function buildSlotImage(
  root: string,
  file: string,
  label: string,
  sizeMiB: number,
  entries: number,
): Promise<void> {
  const handle = await open(file, 'w', 0o600);
  await handle.close();
  await truncate(file, sizeMiB * MiB);
  const inodes = Math.max(entries + 1024, Math.ceil(entries * 1.25));
  await run('mkfs.ext4', [
    '-q',
    '-F',
    '-t',
    'ext4',
    '-O',
    '^has_journal',
    '-m',
    '0',
    '-N',
    String(inodes),
    '-L',
    label,
    '-d',
    root,
    file,
  ]);
  await verifyImage(file);
  await fsyncFile(file);
}

export async function verifyImage(file: string): Promise<void> {
  const check = await run('e2fsck', ['-f', '-n', file], { allowFailure: true });
  if (check.exitCode !== 0) {
    throw new KairosError('IMAGE_VERIFY_FAILED', `built image ${file} failed its filesystem check`, {
      exitCode: ExitCode.ioErr,
    });
  }
}

export async function copyImage(from: string, to: string, label: string): Promise<void> {
  await run('cp', ['--sparse=always', from, to]).catch(async () => copyFile(from, to));
  await run('e2label', [to, label]);
  await fsyncFile(to);
}

export async function imageLabel(file: string): Promise<string> {
  return (await run('e2label', [file])).stdout.trim();
}

export async function setImageLabel(file: string, label: string): Promise<void> {
  if ((await imageLabel(file)) !== label) {
    await run('e2label', [file, label]);
    await fsyncFile(file);
  }
}

/** The image's /etc/os-release (or /usr/lib/os-release), read without mounting. */
export async function readOsRelease(file: string): Promise<Record<string, string>> {
  for (const path of ['/etc/os-release', '/usr/lib/os-release']) {
    const result = await run('debugfs', ['-R', `cat ${path}`, file], { allowFailure: true });
    if (result.exitCode === 0 && result.stdout.includes('=')) return parseOsRelease(result.stdout);
  }
  return {};
}

export function parseOsRelease(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match !== null) fields[match[1]!] = match[2]!.replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');
  }
  return fields;
}

/** A squashfs of the tree, written beside and renamed into place (xattrs kept). */
export async function buildSquashfs(root: string, file: string): Promise<void> {
  const temp = `${file}.new`;
  await run('mksquashfs', [root, temp, '-noappend', '-quiet', '-no-progress', '-comp', 'gzip']);
  await fsyncFile(temp);
  await rename(temp, file);
  await fsyncFile(dirname(file));
}

export async function extractSquashfs(file: string, into: string): Promise<void> {
  await run('unsquashfs', ['-quiet', '-no-progress', '-f', '-d', into, file]);
}

export async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
