import { ExitCode, KairosError } from '../shared/errors.ts';
import { attachDisk, findByLabel, type AttachedDisk } from './disk/partitions.ts';
import { mountPartition, type Mounted } from './disk/mounts.ts';
import type { PartitionLabel } from './layout.ts';

/** The Kairos disk an operation works on: a given device/image, or the running system's. */
export class Target {
  readonly #disk: AttachedDisk | undefined;
  readonly #mounts = new Map<PartitionLabel, Mounted>();

  private constructor(disk: AttachedDisk | undefined) {
    this.#disk = disk;
  }

  static async open(device: string | undefined): Promise<Target> {
    return new Target(device === undefined ? undefined : await attachDisk(device));
  }

  async partition(label: PartitionLabel): Promise<string> {
    const device = this.#disk !== undefined ? this.#disk.partitions.get(label) : await findByLabel(label);
    if (device === undefined) {
      throw new KairosError(
        'NOT_KAIROS_SYSTEM',
        `no ${label} partition found: this is not a Kairos-layout system (pass --device DEV)`,
        { exitCode: ExitCode.unavailable },
      );
    }
    return device;
  }

  async mount(label: PartitionLabel, options: { readOnly?: boolean } = {}): Promise<string> {
    const existing = this.#mounts.get(label);
    if (existing !== undefined) return existing.dir;
    const mounted = await mountPartition(await this.partition(label), label, options);
    this.#mounts.set(label, mounted);
    return mounted.dir;
  }

  async unmount(label: PartitionLabel): Promise<void> {
    await this.#mounts.get(label)?.unmount();
    this.#mounts.delete(label);
  }

  async close(): Promise<void> {
    for (const label of [...this.#mounts.keys()].reverse()) await this.unmount(label);
    await this.#disk?.detach();
  }
}
