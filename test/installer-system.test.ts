/**
 * The installer against real components (root): Debian's docker-registry on 127.0.0.1, images
 * built and pushed with skopeo, sparse disk images on loop devices, sgdisk/blkid/debugfs/
 * grub-editenv to read the result independently of our code.
 */
import { truncate, writeFile, stat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../src/shared/exec.ts';
import {
  buildOsTree,
  cli,
  fileDigest,
  freePort,
  loopsOf,
  push,
  releaseDisk,
  sparseDisk,
  startRegistry,
  tempDir,
  writeOciLayout,
  type Registry,
} from './installer-fixtures.ts';
import { debugfs, fsInfo, grubEnvOf, imageInfo, listPartitionDir, partitions } from './installer-disk.ts';

let dir: string;
let registry: Registry;
let disk: string;
const disks: string[] = [];

async function newDisk(name: string, mib: number): Promise<string> {
  const path = await sparseDisk(join(dir, name), mib);
  disks.push(path);
  return path;
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}

function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.startsWith('kairos-mesh:') || /^\s+at /.test(line));
}

beforeAll(async () => {
  dir = await tempDir('system');
  const layout = join(dir, 'layout');
  await writeOciLayout(layout, [await buildOsTree(join(dir, 'v1'), '1')], { tag: '1' });
  await writeOciLayout(layout, [await buildOsTree(join(dir, 'v2'), '2')], { tag: '2', multiArch: true });
  await writeOciLayout(layout, [await buildOsTree(join(dir, 'v3'), '3')], { tag: 'corrupt' });
  registry = await startRegistry(dir);
  await push(layout, '1', `${registry.host}/kairos/os:1`);
  // VERSION 2 goes up as a Docker v2 manifest list, resolved to this machine's platform.
  await push(layout, '2', `${registry.host}/kairos/os:2`, 'v2s2');
  await push(layout, 'corrupt', `${registry.host}/kairos/os:corrupt`);
  // The same image as airgap tarballs: an OCI layout tar and a `docker save` tar.
  await run('skopeo', ['copy', '--quiet', `oci:${layout}:1`, `oci-archive:${join(dir, 'os1-oci.tar')}`]);
  await run('skopeo', [
    'copy',
    '--quiet',
    `oci:${layout}:1`,
    `docker-archive:${join(dir, 'os1-docker.tar')}:kairos/os:1`,
  ]);
  disk = await newDisk('disk.img', 1024);
}, 120_000);

afterAll(async () => {
  await registry?.stop();
  for (const path of disks) await releaseDisk(path);
  if (dir !== undefined) await run('rm', ['-rf', dir]);
});

describe('installer on a real registry and loop devices', { timeout: 150_000 }, () => {
  it('installs from oci:// onto a sparse disk image: GPT, labels, active holds VERSION 1', async () => {
    const config = join(dir, 'config.yaml');
    await writeFile(config, '#cloud-config\np2p:\n  network_id: test\n');
    const result = await cli([
      'install',
      '--device',
      disk,
      '--source',
      `oci://${registry.host}/kairos/os:1`,
      '--config',
      config,
      '--yes',
      '--work-dir',
      dir,
    ]);
    expect(result.stderr).not.toMatch(/kairos-mesh:/);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^installed oci:\/\/.*kairos\/os:1 on .*disk\.img \(sha256:[0-9a-f]{64}\)$/m,
    );

    const sgdisk = (await run('sgdisk', ['-p', disk])).stdout;
    for (const name of ['COS_GRUB', 'COS_OEM', 'COS_RECOVERY', 'COS_STATE', 'COS_PERSISTENT'])
      expect(sgdisk).toContain(name);
    const parts = await partitions(disk);
    expect(parts.map((part) => part.name)).toEqual([
      'COS_GRUB',
      'COS_OEM',
      'COS_RECOVERY',
      'COS_STATE',
      'COS_PERSISTENT',
    ]);
    expect(parts[0]!.type).toBe('C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
    expect(await fsInfo(disk, 'COS_GRUB')).toMatchObject({ TYPE: 'vfat', LABEL: 'COS_GRUB' });
    for (const name of ['COS_OEM', 'COS_RECOVERY', 'COS_STATE', 'COS_PERSISTENT']) {
      expect(await fsInfo(disk, name)).toMatchObject({ TYPE: 'ext4', LABEL: name });
    }
    expect(await listPartitionDir(disk, 'COS_STATE', '/cOS')).toEqual(['active.img', 'passive.img']);
    expect(await imageInfo(disk, 'active.img')).toEqual({
      label: 'COS_ACTIVE',
      version: '1',
      fsckClean: true,
    });
    expect(await imageInfo(disk, 'passive.img')).toEqual({
      label: 'COS_PASSIVE',
      version: '1',
      fsckClean: true,
    });
    expect(await listPartitionDir(disk, 'COS_RECOVERY', '/cOS')).toEqual(['recovery.squashfs']);
    expect(await debugfs(disk, 'COS_OEM', 'cat /90_custom.yaml')).toContain('network_id: test');
    expect(await grubEnvOf(disk)).toMatchObject({ kairos_active_img: 'active.img', kairos_tries: '' });
    // The GRUB script on STATE passes grub-script-check as written to the disk.
    const cfg = join(dir, 'grub.cfg');
    await run('debugfs', ['-R', `dump /grub2/grub.cfg ${cfg}`, `${disk}?offset=${parts[3]!.offset}`]);
    await run('grub-script-check', [cfg]);
    const efi = (await run('mtype', ['-i', `${disk}@@${parts[0]!.offset}`, '::/EFI/BOOT/grub.cfg'])).stdout;
    expect(efi).toContain('search --no-floppy --label --set=root COS_STATE');
    expect(await loopsOf(disk)).toEqual([]);
  });

  it('boot status reads the slots back', async () => {
    const result = await cli(['boot', 'status', '--device', disk, '--json']);
    expect(result.code).toBe(0);
    const status = JSON.parse(result.stdout) as {
      active: { version: string };
      armed: boolean;
      nextBoot: string;
    };
    expect(status).toMatchObject({ active: { version: '1' }, armed: false, nextBoot: 'active' });
  });

  it('refuses bad input with one clear line and changes nothing on the disk', async () => {
    const before = await fileDigest(disk);
    const archive = join(dir, 'os1-oci.tar');
    const truncatedArchive = join(dir, 'truncated.tar');
    await run('cp', [archive, truncatedArchive]);
    await truncate(truncatedArchive, Math.floor((await stat(archive)).size / 2));
    // Corrupt one byte of the layer blob as stored by the registry.
    const manifest = JSON.parse(
      await (
        await fetch(`http://${registry.host}/v2/kairos/os/manifests/corrupt`, {
          headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
        })
      ).text(),
    ) as { layers: { digest: string }[] };
    const hex = manifest.layers[0]!.digest.slice(7);
    const blob = join(registry.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    const bytes = await readFile(blob);
    bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0xff;
    await writeFile(blob, bytes);
    const closedPort = await freePort();

    const cases: [string, string[], RegExp][] = [
      [
        'unknown tag',
        ['install', '--source', `oci://${registry.host}/kairos/os:9`],
        /image .*kairos\/os:9 not found \(unknown tag or digest\)/,
      ],
      [
        'corrupted blob',
        ['install', '--source', `oci://${registry.host}/kairos/os:corrupt`],
        /digest mismatch for layer 1\/1/,
      ],
      [
        'unreachable registry',
        ['install', '--source', `oci://127.0.0.1:${closedPort}/kairos/os:1`],
        /cannot reach registry 127\.0\.0\.1:\d+: ECONNREFUSED/,
      ],
      [
        'truncated archive',
        ['install', '--source', `oci-archive:${truncatedArchive}`],
        /is truncated or corrupt/,
      ],
      ['upgrade, unknown tag', ['upgrade', '--source', `oci://${registry.host}/kairos/os:9`], /not found/],
      [
        'upgrade, unreachable registry',
        ['upgrade', '--source', `oci://127.0.0.1:${closedPort}/kairos/os:2`],
        /cannot reach registry/,
      ],
    ];
    for (const [what, args, message] of cases) {
      const yes = args[0] === 'install' ? ['--yes'] : [];
      const result = await cli([...args, ...yes, '--device', disk, '--work-dir', dir]);
      expect(result.code, what).not.toBe(0);
      expect(errorLines(result.stderr), what).toHaveLength(1);
      expect(lastLine(result.stderr), what).toMatch(message);
    }
    expect(await fileDigest(disk)).toBe(before);

    // A disk image some loop device still uses (a killed run's leftovers) is refused.
    const loop = (await run('losetup', ['--find', '--show', '--read-only', disk])).stdout.trim();
    try {
      const busy = await cli([
        'upgrade',
        '--device',
        disk,
        '--source',
        `oci://${registry.host}/kairos/os:2`,
        '--work-dir',
        dir,
      ]);
      expect(busy.code).toBe(75);
      expect(lastLine(busy.stderr)).toBe(
        `kairos-mesh: ${disk} is in use by ${loop} (another run, or a killed one: unmount and detach them first)`,
      );
    } finally {
      await run('losetup', ['--detach', loop]);
    }
    expect(await fileDigest(disk)).toBe(before);

    const small = await newDisk('small.img', 300);
    const smallBefore = await fileDigest(small);
    const tooSmall = await cli([
      'install',
      '--device',
      small,
      '--source',
      `oci://${registry.host}/kairos/os:1`,
      '--yes',
    ]);
    expect(tooSmall.code).toBe(65);
    expect(errorLines(tooSmall.stderr)).toHaveLength(1);
    expect(lastLine(tooSmall.stderr)).toMatch(
      /^kairos-mesh: disk too small: the image needs \d+ MiB, the disk has 300 MiB$/,
    );
    expect(await fileDigest(small)).toBe(smallBefore);
    expect(await loopsOf(disk)).toEqual([]);
  });

  it('refuses an upgrade that would not fit in COS_STATE before touching it', async () => {
    const big = await buildOsTree(join(dir, 'big'), '9', async (root) => {
      await writeFile(join(root, 'huge.bin'), '');
      await truncate(join(root, 'huge.bin'), 400 * 1024 * 1024);
    });
    const before = await fileDigest(disk);
    const result = await cli(['upgrade', '--device', disk, '--source', `dir:${big}`]);
    expect(result.code).toBe(74);
    expect(lastLine(result.stderr)).toMatch(
      /^kairos-mesh: not enough space on COS_STATE: .*nothing was changed$/,
    );
    expect(await fileDigest(disk)).toBe(before);
  });

  it('upgrades to VERSION 2: active 2, passive 1, assessment armed; 3 failed boots fall back to passive', async () => {
    const result = await cli([
      'upgrade',
      '--device',
      disk,
      '--source',
      `oci://${registry.host}/kairos/os:2`,
      '--work-dir',
      dir,
    ]);
    expect(result.code).toBe(0);
    expect(await imageInfo(disk, 'active.img')).toEqual({
      label: 'COS_ACTIVE',
      version: '2',
      fsckClean: true,
    });
    expect(await imageInfo(disk, 'passive.img')).toEqual({
      label: 'COS_PASSIVE',
      version: '1',
      fsckClean: true,
    });
    expect(await listPartitionDir(disk, 'COS_STATE', '/cOS')).toEqual(['active.img', 'passive.img']);
    expect(await grubEnvOf(disk)).toMatchObject({
      kairos_tries: '3',
      kairos_max_tries: '3',
      kairos_default: 'active',
      kairos_upgrade: '',
    });

    const booted: string[] = [];
    for (let i = 0; i < 4; i += 1) {
      const boot = await cli(['boot', 'simulate', '--device', disk, '--json']);
      booted.push((JSON.parse(boot.stdout) as { slot: string }).slot);
    }
    expect(booted).toEqual(['active', 'active', 'active', 'passive']);
    const env = await grubEnvOf(disk);
    expect(env).toMatchObject({ kairos_default: 'passive', kairos_tries: '', kairos_last_boot: 'passive' });
    expect(env['kairos_fallback_reason']).toBe('active image was not marked good after 3 boots');
    const status = JSON.parse((await cli(['boot', 'status', '--device', disk, '--json'])).stdout) as {
      fallbackReason: string;
      nextBoot: string;
    };
    expect(status).toMatchObject({
      nextBoot: 'passive',
      fallbackReason: 'active image was not marked good after 3 boots',
    });
  });

  it('after a fallback the next upgrade keeps the good image as passive; mark-good keeps active', async () => {
    const result = await cli([
      'upgrade',
      '--device',
      disk,
      '--source',
      `oci://${registry.host}/kairos/os:2`,
      '--work-dir',
      dir,
    ]);
    expect(result.code).toBe(0);
    // The image that fell back (2) is not trusted as the fallback: passive stays VERSION 1.
    expect((await imageInfo(disk, 'passive.img')).version).toBe('1');
    expect((await imageInfo(disk, 'active.img')).version).toBe('2');
    const first = await cli(['boot', 'simulate', '--device', disk, '--json']);
    expect((JSON.parse(first.stdout) as { slot: string }).slot).toBe('active');
    const good = await cli(['boot', 'mark-good', '--device', disk]);
    expect(good.code).toBe(0);
    for (let i = 0; i < 5; i += 1) {
      const boot = await cli(['boot', 'simulate', '--device', disk, '--json']);
      expect((JSON.parse(boot.stdout) as { slot: string }).slot).toBe('active');
    }
    expect(await grubEnvOf(disk)).toMatchObject({ kairos_tries: '', kairos_fallback_reason: '' });
    expect((await grubEnvOf(disk))['kairos_marked_good']).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('boot select persists the choice', async () => {
    expect((await cli(['boot', 'select', 'recovery', '--device', disk])).stdout).toContain(
      'next boot: recovery',
    );
    const boot = await cli(['boot', 'simulate', '--device', disk, '--json']);
    expect((JSON.parse(boot.stdout) as { slot: string }).slot).toBe('recovery');
    expect((await cli(['boot', 'select', 'active', '--device', disk])).code).toBe(0);
    const bad = await cli(['boot', 'select', 'other', '--device', disk]);
    expect(bad.code).toBe(64);
  });

  it('reset restores active and passive from recovery and empties PERSISTENT', async () => {
    // Leave data in PERSISTENT, as a running node would.
    const parts = await partitions(disk);
    const persistent = parts.find((part) => part.name === 'COS_PERSISTENT')!;
    const note = join(dir, 'note.txt');
    await writeFile(note, 'node data\n');
    await run('debugfs', ['-w', '-R', `write ${note} note.txt`, `${disk}?offset=${persistent.offset}`]);
    expect(await listPartitionDir(disk, 'COS_PERSISTENT', '/')).toContain('note.txt');

    const refused = await cli(['reset', '--device', disk]);
    expect(refused.code).toBe(64);
    expect(await listPartitionDir(disk, 'COS_PERSISTENT', '/')).toContain('note.txt');

    const result = await cli(['reset', '--device', disk, '--yes', '--work-dir', dir]);
    expect(result.code).toBe(0);
    expect(await imageInfo(disk, 'active.img')).toEqual({
      label: 'COS_ACTIVE',
      version: '1',
      fsckClean: true,
    });
    expect(await imageInfo(disk, 'passive.img')).toEqual({
      label: 'COS_PASSIVE',
      version: '1',
      fsckClean: true,
    });
    expect(await listPartitionDir(disk, 'COS_STATE', '/cOS')).toEqual(['active.img', 'passive.img']);
    expect(await listPartitionDir(disk, 'COS_PERSISTENT', '/')).toEqual(['lost+found']);
    expect(await debugfs(disk, 'COS_OEM', 'cat /90_custom.yaml')).toContain('network_id: test');
    expect(await grubEnvOf(disk)).toMatchObject({
      kairos_default: 'active',
      kairos_tries: '',
      kairos_upgrade: '',
    });
    expect(await loopsOf(disk)).toEqual([]);
  });

  it('upgrade --recovery replaces the recovery image; the next reset restores that version', async () => {
    const result = await cli([
      'upgrade',
      '--recovery',
      '--device',
      disk,
      '--source',
      `oci://${registry.host}/kairos/os:2`,
      '--work-dir',
      dir,
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('recovery upgraded');
    expect(await listPartitionDir(disk, 'COS_RECOVERY', '/cOS')).toEqual(['recovery.squashfs']);
    expect((await imageInfo(disk, 'active.img')).version).toBe('1');
    expect((await cli(['reset', '--device', disk, '--yes', '--work-dir', dir])).code).toBe(0);
    expect((await imageInfo(disk, 'active.img')).version).toBe('2');
    expect((await imageInfo(disk, 'passive.img')).version).toBe('2');
  });

  it('airgap: installs from oci-archive tarballs (OCI layout and docker save) with no registry running', async () => {
    await registry.stop();
    for (const archive of ['os1-oci.tar', 'os1-docker.tar']) {
      const target = await newDisk(`airgap-${archive}.img`, 1024);
      const result = await cli([
        'install',
        '--device',
        target,
        '--source',
        `oci-archive:${join(dir, archive)}`,
        '--yes',
        '--work-dir',
        dir,
      ]);
      expect(result.stderr).not.toMatch(/kairos-mesh:/);
      expect(result.code).toBe(0);
      expect(await imageInfo(target, 'active.img')).toEqual({
        label: 'COS_ACTIVE',
        version: '1',
        fsckClean: true,
      });
      expect(await fsInfo(target, 'COS_STATE')).toMatchObject({ LABEL: 'COS_STATE' });
    }
  });

  it('boot commands without --device say clearly that this is not a Kairos system', async () => {
    const result = await cli(['boot', 'mark-good']);
    expect(result.code).toBe(69);
    expect(lastLine(result.stderr)).toBe(
      'kairos-mesh: no COS_STATE partition found: this is not a Kairos-layout system (pass --device DEV)',
    );
  });
});
