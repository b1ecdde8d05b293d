/**
 * Fixtures for the installer system tests: small busybox OS trees, OCI layouts built from them
 * (our own writer, so layers can carry whiteouts, hard links and xattrs), a real Debian
 * `docker-registry` on 127.0.0.1, sparse disk images, and cleanup of loop devices and mounts by
 * the disk image they belong to.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  open,
  readFile,
  readdir,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { run } from '../src/shared/exec.ts';
import { sleep } from '../src/shared/sleep.ts';

export const CLI = join(import.meta.dirname, '..', 'bin', 'kairos-mesh.js');
export const BUSYBOX = '/bin/busybox';

export async function tempDir(name: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `kmi-${name}-`));
}

/** A tiny bootable-looking root: static busybox, a few applets, /etc/os-release. */
export async function buildOsTree(
  dir: string,
  version: string,
  extra: (root: string) => Promise<void> = async () => {},
): Promise<string> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  await mkdir(join(dir, 'etc'), { recursive: true });
  for (const sub of ['proc', 'sys', 'dev', 'tmp', 'usr/lib', 'var/log'])
    await mkdir(join(dir, sub), { recursive: true });
  await copyFile(BUSYBOX, join(dir, 'bin', 'busybox'));
  await chmod(join(dir, 'bin', 'busybox'), 0o755);
  for (const applet of ['sh', 'ls', 'cat', 'mount', 'init'])
    await symlink('busybox', join(dir, 'bin', applet));
  const release = `NAME="Kairos test OS"\nID=kairos-test\nVERSION="${version}"\nVERSION_ID=${version}\n`;
  await writeFile(join(dir, 'usr/lib/os-release'), release);
  await writeFile(join(dir, 'etc/os-release'), release);
  await writeFile(join(dir, 'etc/hostname'), 'kairos\n');
  await chmod(join(dir, 'tmp'), 0o1777);
  await extra(dir);
  return dir;
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export interface LayoutOptions {
  tag: string;
  /** Wrap the manifest in an image index with an extra foreign platform entry. */
  multiArch?: boolean;
}

/**
 * Writes (or adds to) an OCI image layout at `layout` whose layers are the given trees, each
 * tarred by GNU tar with xattrs and numeric owners.
 */
export async function writeOciLayout(
  layout: string,
  layerDirs: string[],
  options: LayoutOptions,
): Promise<string> {
  const blobs = join(layout, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (bytes: Uint8Array): Promise<string> => {
    const digest = sha256(bytes);
    await writeFile(join(blobs, digest.slice(7)), bytes);
    return digest;
  };
  const layers = [];
  const diffIds = [];
  for (const dir of layerDirs) {
    const tar = await tarTree(dir);
    diffIds.push(sha256(tar));
    const gz = gzipSync(tar);
    layers.push({
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: await put(gz),
      size: gz.length,
    });
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: diffIds },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: await put(config),
        size: config.length,
      },
      layers,
    }),
  );
  const manifestDigest = await put(manifest);
  let top = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: manifestDigest,
    size: manifest.length,
  };
  if (options.multiArch === true) {
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { ...top, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
          { ...top, platform: { os: 'linux', architecture: 'amd64' } },
        ],
      }),
    );
    top = {
      mediaType: 'application/vnd.oci.image.index.v1+json',
      digest: await put(index),
      size: index.length,
    };
  }
  const indexPath = join(layout, 'index.json');
  const existing = await readFile(indexPath, 'utf8')
    .then((text) => JSON.parse(text) as { manifests: unknown[] })
    .catch(() => ({ manifests: [] as unknown[] }));
  existing.manifests.push({ ...top, annotations: { 'org.opencontainers.image.ref.name': options.tag } });
  await writeFile(indexPath, JSON.stringify({ schemaVersion: 2, ...existing }));
  await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return manifestDigest;
}

async function tarTree(dir: string): Promise<Buffer> {
  const out = join(dir, '..', `${dir.split('/').pop()}.tar`);
  await run('tar', [
    '--xattrs',
    '--xattrs-include=*',
    '--numeric-owner',
    '--sort=name',
    '-C',
    dir,
    '-cf',
    out,
    '.',
  ]);
  const bytes = await readFile(out);
  await rm(out);
  return bytes;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

export interface Registry {
  host: string;
  storage: string;
  stop(): Promise<void>;
}

/** Debian's docker-registry on 127.0.0.1 with a temp storage dir. */
export async function startRegistry(dir: string): Promise<Registry> {
  const port = await freePort();
  const storage = join(dir, 'registry-storage');
  await mkdir(storage, { recursive: true });
  const config = join(dir, 'registry.yml');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storage}`,
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('/usr/bin/docker-registry', ['serve', config], { stdio: 'ignore' });
  const host = `127.0.0.1:${port}`;
  for (let i = 0; i < 100; i += 1) {
    const ok = await fetch(`http://${host}/v2/`).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) break;
    if (child.exitCode !== null) throw new Error('docker-registry exited at start');
    await sleep(100);
  }
  return {
    host,
    storage,
    stop: async () => {
      if (child.exitCode !== null || child.pid === undefined) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(3000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

export async function push(
  layout: string,
  tag: string,
  destination: string,
  format: 'oci' | 'v2s2' = 'oci',
): Promise<void> {
  await run('skopeo', [
    'copy',
    '--all',
    '--quiet',
    '--dest-tls-verify=false',
    ...(format === 'v2s2' ? ['--format', 'v2s2'] : []),
    `oci:${layout}:${tag}`,
    `docker://${destination}`,
  ]);
}

export async function sparseDisk(path: string, mib: number): Promise<string> {
  const handle = await open(path, 'w');
  await handle.truncate(mib * 1024 * 1024);
  await handle.close();
  return path;
}

/**
 * After a killed run (a simulated power cut/reboot): unmount what is mounted from loop devices
 * backed by `disk`, then detach them. Only this disk's devices are touched.
 */
export async function releaseDisk(disk: string): Promise<void> {
  const listed = await run('losetup', ['--associated', disk, '--noheadings', '--output', 'NAME'], {
    allowFailure: true,
  });
  const loops = listed.stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  for (const line of mounts.split('\n').reverse()) {
    const [source, target] = line.split(' ');
    if (source !== undefined && target !== undefined && loops.includes(source)) {
      await run('umount', [target], { allowFailure: true });
      if (target.includes('kairos-mesh-mnt-')) await rm(target, { recursive: true, force: true });
    }
  }
  for (const loop of loops) await run('losetup', ['--detach', loop], { allowFailure: true });
}

export async function loopsOf(disk: string): Promise<string[]> {
  const listed = await run('losetup', ['--associated', disk, '--noheadings', '--output', 'NAME'], {
    allowFailure: true,
  });
  return listed.stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/** Runs the CLI as a separate process; never throws on a non-zero exit. */
export async function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** A checksum of a whole disk image file, to prove a failed command changed nothing (cksum's
 * CRC is fast on sparse gigabytes; this detects accidents, not attacks). */
export async function fileDigest(path: string): Promise<string> {
  return (await run('cksum', [path])).stdout.split(' ').slice(0, 2).join(' ');
}

/** Partitions of a disk image as sgdisk/blkid see them. */
export async function partitionNames(disk: string): Promise<string[]> {
  const table = JSON.parse((await run('sfdisk', ['--json', disk])).stdout) as {
    partitiontable: { partitions: { name?: string }[] };
  };
  return table.partitiontable.partitions.map((part) => part.name ?? '');
}

export async function listDir(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}
