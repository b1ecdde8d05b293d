import {
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  open,
  readdir,
  readlink,
  rm,
  symlink,
  chmod,
} from 'node:fs/promises';
import { join, posix } from 'node:path';
import { ExitCode, KairosError } from '../../shared/errors.ts';
import { run } from '../../shared/exec.ts';
import { readTar, type TarHeader } from './tar-reader.ts';

/**
 * Applies one image layer (an uncompressed tar stream) onto `root`, OCI semantics:
 * `.wh.NAME` deletes NAME from lower layers, `.wh..wh..opq` empties its directory of lower-layer
 * entries; ownership, modes, times, symlinks, hard links, devices and xattrs are kept. Paths
 * never escape `root`: `..` is refused and symlinks met on the way are resolved inside it.
 */
export interface ApplyStats {
  files: number;
  bytes: number;
}

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

function layerError(message: string): KairosError {
  return new KairosError('LAYER_INVALID', message, { exitCode: ExitCode.dataErr });
}

/** "./a/b/" → "a/b"; refuses ".." and empty names. */
export function cleanPath(path: string): string {
  const parts = path.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.some((part) => part === '..')) throw layerError(`layer entry "${path}" leaves the image root`);
  return parts.join('/');
}

export class LayerApplier {
  readonly #root: string;
  readonly #onFile: (() => void) | undefined;
  /** Paths written by the layer being applied: whiteouts never remove those. */
  #created = new Set<string>();
  #dirTimes = new Map<string, number>();

  constructor(root: string, onFile?: () => void) {
    this.#root = root;
    this.#onFile = onFile;
  }

  async apply(tar: AsyncIterable<Buffer | Uint8Array>, what: string): Promise<ApplyStats> {
    this.#created = new Set();
    this.#dirTimes = new Map();
    const stats: ApplyStats = { files: 0, bytes: 0 };
    for await (const entry of readTar(tar, what)) {
      const path = cleanPath(entry.header.path);
      if (path === '') {
        if (entry.header.type === 'directory') await this.#setMeta(this.#root, entry.header);
        continue;
      }
      const name = posix.basename(path);
      const parent = posix.dirname(path) === '.' ? '' : posix.dirname(path);
      if (name === OPAQUE) {
        await this.#opaque(parent);
        continue;
      }
      if (name.startsWith(WHITEOUT)) {
        const target =
          parent === '' ? name.slice(WHITEOUT.length) : `${parent}/${name.slice(WHITEOUT.length)}`;
        if (!this.#created.has(target))
          await rm(await this.#resolve(target, false), { recursive: true, force: true });
        continue;
      }
      stats.bytes += await this.#write(path, entry.header, entry.body);
      stats.files += 1;
      this.#created.add(path);
      this.#onFile?.();
    }
    // Directory times last: writing children changed them.
    for (const [dir, mtime] of [...this.#dirTimes].reverse()) await lutimes(dir, mtime, mtime);
    return stats;
  }

  async #opaque(dir: string): Promise<void> {
    const full = await this.#resolve(dir, true);
    let names: string[];
    try {
      names = await readdir(full);
    } catch {
      return;
    }
    for (const name of names) {
      const child = dir === '' ? name : `${dir}/${name}`;
      if (!this.#created.has(child)) await rm(join(full, name), { recursive: true, force: true });
    }
  }

  /**
   * The host path of `path` inside root. Symlinks in parent directories are followed the way
   * the running image would follow them (absolute targets are relative to root); the last
   * component is followed only when `followLast`.
   */
  async #resolve(path: string, followLast: boolean, depth = 0): Promise<string> {
    if (depth > 40) throw layerError(`too many symlinks resolving "${path}"`);
    const parts = path === '' ? [] : path.split('/');
    const resolved: string[] = [];
    for (let i = 0; i < parts.length; i += 1) {
      resolved.push(parts[i]!);
      if (i === parts.length - 1 && !followLast) break;
      const host = join(this.#root, ...resolved);
      const info = await lstat(host).catch(() => undefined);
      if (info?.isSymbolicLink() === true) {
        const target = await readlink(host);
        const base = target.startsWith('/') ? '' : resolved.slice(0, -1).join('/');
        const joined = cleanPathLenient(posix.join(base, target));
        const rest = parts.slice(i + 1).join('/');
        return this.#resolve(
          rest === '' ? joined : joined === '' ? rest : `${joined}/${rest}`,
          followLast,
          depth + 1,
        );
      }
    }
    return join(this.#root, ...resolved);
  }

  async #write(path: string, header: TarHeader, body: AsyncGenerator<Buffer>): Promise<number> {
    const target = await this.#resolve(path, false);
    const existing = await lstat(target).catch(() => undefined);
    if (existing !== undefined && !(existing.isDirectory() && header.type === 'directory')) {
      await rm(target, { recursive: true, force: true });
    }
    if (existing === undefined || header.type !== 'directory') {
      await mkdir(posix.dirname(target), { recursive: true });
    }
    let bytes = 0;
    switch (header.type) {
      case 'directory':
        if (existing === undefined || !existing.isDirectory()) await mkdir(target);
        break;
      case 'file': {
        const handle = await open(target, 'wx', 0o600);
        try {
          for await (const chunk of body) {
            await handle.write(chunk);
            bytes += chunk.length;
          }
        } finally {
          await handle.close();
        }
        break;
      }
      case 'symlink':
        await symlink(header.linkpath, target);
        break;
      case 'hardlink': {
        const source = await this.#resolve(cleanPath(header.linkpath), false);
        await link(source, target).catch((error: unknown) => {
          throw layerError(
            `hard link ${path} → ${header.linkpath} failed: ${(error as NodeJS.ErrnoException).code}`,
          );
        });
        // A hard link shares the target's metadata: nothing more to set.
        return 0;
      }
      case 'char':
      case 'block':
      case 'fifo': {
        const kind = header.type === 'char' ? 'c' : header.type === 'block' ? 'b' : 'p';
        const numbers = kind === 'p' ? [] : [String(header.devmajor), String(header.devminor)];
        await run('mknod', [target, kind, ...numbers]);
        break;
      }
    }
    await this.#setMeta(target, header);
    return bytes;
  }

  async #setMeta(target: string, header: TarHeader): Promise<void> {
    await lchown(target, header.uid, header.gid);
    // chmod after chown: chown clears setuid/setgid bits.
    if (header.type !== 'symlink') await chmod(target, header.mode);
    for (const [name, value] of header.xattrs) {
      await run('setfattr', ['-h', '-n', name, '-v', `0x${value.toString('hex')}`, target]);
    }
    if (header.type === 'directory') this.#dirTimes.set(target, header.mtime);
    else await lutimes(target, header.mtime, header.mtime);
  }
}

/** Like cleanPath, but ".." that climbs above root stays at root (as the kernel does at /). */
function cleanPathLenient(path: string): string {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out.join('/');
}
