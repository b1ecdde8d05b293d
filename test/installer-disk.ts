/**
 * Reads a Kairos disk image the way an independent tool would: sfdisk for the table, blkid and
 * debugfs at partition offsets (no mounting), grub-editenv for the environment.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../src/shared/exec.ts';

export interface PartitionInfo {
  name: string;
  offset: number;
  type: string;
}

export async function partitions(disk: string): Promise<PartitionInfo[]> {
  const table = JSON.parse((await run('sfdisk', ['--json', disk])).stdout) as {
    partitiontable: { sectorsize?: number; partitions: { name?: string; start: number; type: string }[] };
  };
  const sector = table.partitiontable.sectorsize ?? 512;
  return table.partitiontable.partitions.map((part) => ({
    name: part.name ?? '',
    offset: part.start * sector,
    type: part.type,
  }));
}

async function partition(disk: string, name: string): Promise<PartitionInfo> {
  const found = (await partitions(disk)).find((part) => part.name === name);
  if (found === undefined) throw new Error(`${disk} has no ${name}`);
  return found;
}

export async function fsInfo(disk: string, name: string): Promise<Record<string, string>> {
  const part = await partition(disk, name);
  const out = (await run('blkid', ['-p', '-O', String(part.offset), '-o', 'export', disk])).stdout;
  return Object.fromEntries(out.split('\n').map((line) => line.split('=', 2) as [string, string]));
}

function at(disk: string, offset: number): string {
  return `${disk}?offset=${offset}`;
}

export async function debugfs(disk: string, name: string, request: string): Promise<string> {
  const part = await partition(disk, name);
  return (await run('debugfs', ['-R', request, at(disk, part.offset)])).stdout;
}

export async function listPartitionDir(disk: string, name: string, dir: string): Promise<string[]> {
  const out = await debugfs(disk, name, `ls -p ${dir}`);
  return out
    .split('\n')
    .map((line) => line.split('/')[5] ?? '')
    .filter((entry) => entry !== '' && entry !== '.' && entry !== '..')
    .sort();
}

/** Copies a file out of a partition into a temp dir, hands it to `use`, removes it. */
export async function withFileFrom<T>(
  disk: string,
  name: string,
  path: string,
  use: (file: string) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'kmi-dump-'));
  try {
    const part = await partition(disk, name);
    const file = join(dir, 'file');
    await run('debugfs', ['-R', `dump ${path} ${file}`, at(disk, part.offset)]);
    return await use(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function grubEnvOf(disk: string): Promise<Record<string, string>> {
  return withFileFrom(disk, 'COS_STATE', '/grub2/grubenv', async (file) => {
    const out = (await run('grub-editenv', [file, 'list'])).stdout;
    return Object.fromEntries(
      out
        .split('\n')
        .filter((line) => line.includes('='))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
  });
}

export interface ImageInfo {
  label: string;
  version: string | undefined;
  fsckClean: boolean;
}

/** A slot image inside STATE: its label, /etc/os-release VERSION, and whether e2fsck passes. */
export async function imageInfo(disk: string, file: string): Promise<ImageInfo> {
  return withFileFrom(disk, 'COS_STATE', `/cOS/${file}`, async (image) => {
    const fsck = await run('e2fsck', ['-f', '-n', image], { allowFailure: true });
    const label = (await run('e2label', [image], { allowFailure: true })).stdout.trim();
    const release = (await run('debugfs', ['-R', 'cat /etc/os-release', image], { allowFailure: true }))
      .stdout;
    return { label, version: /^VERSION="?([^"\n]*)"?$/m.exec(release)?.[1], fsckClean: fsck.exitCode === 0 };
  });
}

export async function readText(path: string): Promise<string> {
  return readFile(path, 'utf8');
}
