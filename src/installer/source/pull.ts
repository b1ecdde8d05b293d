import { createReadStream } from 'node:fs';
import { mkdir, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ExitCode, KairosError } from '../../shared/errors.ts';
import type { Progress } from '../progress.ts';
import { autoDecompress } from './decompress.ts';
import { DigestVerifier } from './digest-stream.ts';
import { layoutPlan, registryPlan, type ImagePlan } from './image-plan.ts';
import { LayerApplier, cleanPath } from './layer-apply.ts';
import type { SourceRef } from './reference.ts';
import { RegistryClient, type RegistryCredentials } from './registry-client.ts';
import { readTar } from './tar-reader.ts';

export interface PullOptions {
  insecureRegistries?: readonly string[];
  credentials?: RegistryCredentials;
  signal?: AbortSignal;
  progress: Progress;
  /** Scratch space for unpacking archives. */
  scratchDir: string;
}

export interface PullResult {
  digest: string;
  files: number;
  bytes: number;
}

/** Resolves a registry or archive source and applies its layers, verified, onto `rootDir`. */
export async function pullImage(
  source: SourceRef,
  rootDir: string,
  options: PullOptions,
): Promise<PullResult> {
  let plan: ImagePlan;
  if (source.kind === 'registry') {
    options.progress.phase(`resolving ${source.text}`);
    const client = new RegistryClient(source.host, {
      ...(options.insecureRegistries === undefined ? {} : { insecureRegistries: options.insecureRegistries }),
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    plan = await registryPlan(client, source.repository, source.reference);
  } else if (source.kind === 'archive') {
    const unpacked = join(options.scratchDir, 'archive');
    options.progress.phase(`reading archive ${source.path}`);
    await unpackArchive(source.path, unpacked, options.progress);
    plan = await layoutPlan(unpacked);
  } else {
    throw new KairosError('SOURCE_INVALID', 'a dir: source needs no pull', { exitCode: ExitCode.software });
  }
  await mkdir(rootDir, { recursive: true, mode: 0o755 });
  const applier = new LayerApplier(rootDir, () => options.progress.file());
  const result: PullResult = { digest: plan.digest, files: 0, bytes: 0 };
  for (const [index, layer] of plan.layers.entries()) {
    options.progress.phase(`layer ${index + 1}/${plan.layers.length}`);
    const what = `layer ${index + 1}/${plan.layers.length}`;
    const blob = await layer.open();
    await pipeline(
      blob,
      new DigestVerifier(layer.digest, what, {
        ...(layer.size === undefined ? {} : { size: layer.size }),
        onBytes: (count) => options.progress.bytes(count),
      }),
      autoDecompress,
      new DigestVerifier(layer.diffId, `${what} (uncompressed)`),
      async (tar: AsyncIterable<Buffer>) => {
        const stats = await applier.apply(tar, what);
        result.files += stats.files;
        result.bytes += stats.bytes;
      },
    );
  }
  options.progress.done();
  return result;
}

/** Unpacks an image archive (OCI layout or docker save tar, optionally gzipped): files only. */
export async function unpackArchive(path: string, into: string, progress: Progress): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined || !info.isFile()) {
    throw new KairosError('ARCHIVE_INVALID', `image archive ${path} does not exist`, {
      exitCode: ExitCode.dataErr,
    });
  }
  await mkdir(into, { recursive: true });
  const what = `image archive ${path}`;
  await pipeline(createReadStream(path), autoDecompress, async (tar: AsyncIterable<Buffer>) => {
    for await (const entry of readTar(tar, what)) {
      const name = cleanPath(entry.header.path);
      if (name === '') continue;
      const target = join(into, name);
      if (entry.header.type === 'directory') await mkdir(target, { recursive: true });
      if (entry.header.type !== 'file') continue;
      await mkdir(join(target, '..'), { recursive: true });
      const handle = await open(target, 'w', 0o600);
      try {
        for await (const chunk of entry.body) {
          await handle.write(chunk);
          progress.bytes(chunk.length);
        }
      } finally {
        await handle.close();
      }
    }
  });
}
