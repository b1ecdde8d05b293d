import { createReadStream } from 'node:fs';
import {
  chmod,
  chown,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
  link,
  access,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../shared/exec.ts';
import { LayerApplier, cleanPath } from './layer-apply.ts';

/** Layers made by GNU tar (pax, xattrs, numeric owners), applied the way an image pull does. */
let dir: string;
const CAPABILITY = '0x0100000200200000000000000000000000000000'; // cap_net_raw+ep, binary

async function tarOf(tree: string, name: string, members: string[] = ['.']): Promise<string> {
  const file = join(dir, `${name}.tar`);
  await run('tar', [
    '--xattrs',
    '--xattrs-include=*',
    '--numeric-owner',
    '--sort=name',
    '-C',
    tree,
    '-cf',
    file,
    ...members,
  ]);
  return file;
}

async function xattr(path: string, name: string): Promise<string> {
  const result = await run('getfattr', ['-h', '-e', 'hex', '--only-values', '-n', name, path], {
    allowFailure: true,
  });
  return result.exitCode === 0
    ? (await run('getfattr', ['-h', '-e', 'hex', '-n', name, path])).stdout.split('=')[1]!.trim()
    : '';
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kmi-layer-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('layer application', () => {
  it('applies layers in order: whiteouts, opaque dirs, owners, modes, links, devices, xattrs', async () => {
    const one = join(dir, 'one');
    for (const sub of ['etc', 'd/sub', 'bin', 'home/u', 'run', 'dev'])
      await mkdir(join(one, sub), { recursive: true });
    await writeFile(join(one, 'etc/a'), 'a\n');
    await writeFile(join(one, 'etc/keep'), 'old\n');
    await writeFile(join(one, 'd/x'), 'x\n');
    await writeFile(join(one, 'd/sub/y'), 'y\n');
    await writeFile(join(one, 'bin/prog'), 'prog\n');
    await chmod(join(one, 'bin/prog'), 0o4755);
    await writeFile(join(one, 'home/u/f'), 'f\n');
    await chown(join(one, 'home/u/f'), 1000, 1001);
    await chmod(join(one, 'home/u/f'), 0o640);
    await chown(join(one, 'home/u'), 1000, 1001);
    await symlink('etc/a', join(one, 'lnk'));
    await symlink('/', join(one, 'escape'));
    await link(join(one, 'etc/keep'), join(one, 'hard'));
    await writeFile(join(one, 'ping'), 'ping\n');
    await run('setfattr', ['-n', 'security.capability', '-v', CAPABILITY, join(one, 'ping')]);
    await run('setfattr', ['-n', 'user.note', '-v', 'hello', join(one, 'ping')]);
    await run('mknod', [join(one, 'run/fifo'), 'p']);
    await run('mknod', [join(one, 'dev/null2'), 'c', '1', '3']);

    const two = join(dir, 'two');
    await mkdir(join(two, 'etc'), { recursive: true });
    await mkdir(join(two, 'd'), { recursive: true });
    await writeFile(join(two, 'etc/.wh.a'), '');
    await writeFile(join(two, 'etc/keep'), 'new\n');
    await writeFile(join(two, 'd/.wh..wh..opq'), '');
    await writeFile(join(two, 'd/new'), 'new\n');
    // Through the symlink "escape -> /": must land inside the root, never on the host.
    await mkdir(join(two, 'escape/tmp'), { recursive: true });
    await writeFile(join(two, 'escape/tmp/kmi-layer-escape-check'), 'inside\n');

    const root = join(dir, 'root');
    await mkdir(root);
    let files = 0;
    const applier = new LayerApplier(root, () => (files += 1));
    await applier.apply(createReadStream(await tarOf(one, 'one')) as AsyncIterable<Buffer>, 'one');
    // Members listed one by one: no "escape/" directory entry replaces the symlink first.
    const members = ['etc/.wh.a', 'etc/keep', 'd/.wh..wh..opq', 'd/new', 'escape/tmp/kmi-layer-escape-check'];
    await applier.apply(createReadStream(await tarOf(two, 'two', members)) as AsyncIterable<Buffer>, 'two');
    expect(files).toBeGreaterThan(15);

    await expect(access(join(root, 'etc/a'))).rejects.toThrow();
    expect(await readFile(join(root, 'etc/keep'), 'utf8')).toBe('new\n');
    expect(await readFile(join(root, 'hard'), 'utf8')).toBe('old\n');
    expect((await lstat(join(root, 'd'))).isDirectory()).toBe(true);
    await expect(access(join(root, 'd/x'))).rejects.toThrow();
    await expect(access(join(root, 'd/sub'))).rejects.toThrow();
    expect(await readFile(join(root, 'd/new'), 'utf8')).toBe('new\n');
    expect((await lstat(join(root, 'bin/prog'))).mode & 0o7777).toBe(0o4755);
    const f = await lstat(join(root, 'home/u/f'));
    expect([f.uid, f.gid, f.mode & 0o777]).toEqual([1000, 1001, 0o640]);
    expect((await lstat(join(root, 'home/u'))).uid).toBe(1000);
    expect(await readlink(join(root, 'lnk'))).toBe('etc/a');
    expect(await xattr(join(root, 'ping'), 'security.capability')).toBe(CAPABILITY);
    expect(await xattr(join(root, 'ping'), 'user.note')).toBe('0x68656c6c6f');
    expect((await lstat(join(root, 'run/fifo'))).isFIFO()).toBe(true);
    const dev = await lstat(join(root, 'dev/null2'));
    expect(dev.isCharacterDevice()).toBe(true);
    expect(dev.rdev).toBe(259);
    expect(await readFile(join(root, 'tmp/kmi-layer-escape-check'), 'utf8')).toBe('inside\n');
    await expect(access('/tmp/kmi-layer-escape-check')).rejects.toThrow();
  });

  it('keeps hard links within one layer as one inode', async () => {
    const tree = join(dir, 'links');
    await mkdir(tree);
    await writeFile(join(tree, 'a'), 'same\n');
    await link(join(tree, 'a'), join(tree, 'b'));
    const root = join(dir, 'links-root');
    await mkdir(root);
    await new LayerApplier(root).apply(
      createReadStream(await tarOf(tree, 'links')) as AsyncIterable<Buffer>,
      'links',
    );
    expect((await lstat(join(root, 'a'))).ino).toBe((await lstat(join(root, 'b'))).ino);
  });

  it('refuses entries that leave the root and reports a truncated tar', async () => {
    expect(() => cleanPath('../etc/passwd')).toThrow(/leaves the image root/);
    expect(cleanPath('./usr//bin/')).toBe('usr/bin');
    const tree = join(dir, 'trunc');
    await mkdir(tree);
    await writeFile(join(tree, 'big'), Buffer.alloc(100_000, 1));
    const tar = await readFile(await tarOf(tree, 'trunc'));
    const root = join(dir, 'trunc-root');
    await mkdir(root);
    const cut = Readable.from([tar.subarray(0, 50_000)]) as AsyncIterable<Buffer>;
    await expect(new LayerApplier(root).apply(cut, 'layer 1/1')).rejects.toThrow(
      /layer 1\/1 is truncated or corrupt/,
    );
  });
});
