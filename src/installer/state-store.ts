import { link, lstat, mkdir, readdir, rename, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { readFileIfExists, writeFileAtomic } from '../shared/secure-file.ts';
import { checkpoint } from './checkpoint.ts';
import { fsyncFile, setImageLabel } from './disk/filesystems.ts';
import { decodeGrubEnv, encodeGrubEnv, type GrubEnv } from './grubenv.ts';
import { GRUBENV_PATH, IMAGE_DIR } from './grub-config.ts';
import { ACTIVE_IMG, PASSIVE_IMG, nextFinishStep, type FinishStep } from './slot-switch.ts';

/** The mounted COS_STATE partition: image files, the GRUB environment, the switch steps. */
export class StateStore {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  get imageDir(): string {
    return join(this.root, IMAGE_DIR);
  }

  image(name: string): string {
    return join(this.imageDir, name);
  }

  get envPath(): string {
    return join(this.root, GRUBENV_PATH);
  }

  async readEnv(): Promise<Record<string, string>> {
    const block = await readFileIfExists(this.envPath);
    return block === undefined ? {} : decodeGrubEnv(block);
  }

  /** The atomic commit point: temp file, fsync, rename, fsync of the directory. */
  async writeEnv(env: GrubEnv): Promise<void> {
    await writeFileAtomic(this.envPath, encodeGrubEnv(env), 0o644);
  }

  async images(): Promise<Map<string, number>> {
    await mkdir(this.imageDir, { recursive: true });
    const files = new Map<string, number>();
    for (const name of await readdir(this.imageDir)) files.set(name, (await lstat(this.image(name))).ino);
    return files;
  }

  async freeBytes(): Promise<number> {
    const info = await statfs(this.root);
    return info.bavail * info.bsize;
  }

  /**
   * Finishes (rolls forward) a committed switch, or rolls back an uncommitted one by deleting
   * what no name points at; then makes the labels match the names. Idempotent.
   */
  async settle(): Promise<void> {
    for (let step = await this.#next(); step !== undefined; step = await this.#next())
      await this.#apply(step);
    const files = await this.images();
    const active = files.get(ACTIVE_IMG);
    const passive = files.get(PASSIVE_IMG);
    if (active !== undefined) await setImageLabel(this.image(ACTIVE_IMG), 'COS_ACTIVE');
    if (passive !== undefined && passive !== active)
      await setImageLabel(this.image(PASSIVE_IMG), 'COS_PASSIVE');
  }

  async #next(): Promise<FinishStep | undefined> {
    return nextFinishStep(await this.readEnv(), await this.images());
  }

  async #apply(step: FinishStep): Promise<void> {
    if (step.op === 'env') {
      await this.writeEnv({ ...(await this.readEnv()), ...step.set });
      checkpoint('env-written');
    } else if (step.op === 'unlink') {
      await unlink(this.image(step.file));
      await fsyncFile(this.imageDir);
      checkpoint('unlinked');
    } else {
      // Hard link under a temp name, then rename over the canonical name: atomic replace.
      const temp = this.image(`${step.to}.tmp`);
      await unlink(temp).catch(() => undefined);
      await link(this.image(step.from), temp);
      await fsyncFile(this.imageDir);
      checkpoint(`link-made:${step.to}`);
      await rename(temp, this.image(step.to));
      await fsyncFile(this.imageDir);
      checkpoint(`link-renamed:${step.to}`);
    }
  }

  async writeFile(relative: string, text: string): Promise<void> {
    await writeFileAtomic(join(this.root, relative), text, 0o644);
  }
}
