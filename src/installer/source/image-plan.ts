import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { ExitCode, KairosError } from '../../shared/errors.ts';
import {
  parseImageConfig,
  parseManifest,
  selectPlatform,
  type Descriptor,
  type Platform,
} from './manifest.ts';
import type { RegistryClient } from './registry-client.ts';

/** An image resolved to its layers, each openable as a byte stream with what to verify. */
export interface LayerSource {
  /** Digest of the stored (possibly compressed) blob, verified while streaming. */
  digest?: string;
  size?: number;
  /** Digest of the uncompressed tar (the config's diff_id), verified while streaming. */
  diffId?: string;
  open(): Promise<Readable>;
}

export interface ImagePlan {
  /** Manifest digest (or config digest for docker-save archives). */
  digest: string;
  layers: LayerSource[];
}

const MAX_JSON = 4 * 1024 * 1024;

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function verify(bytes: Uint8Array, digest: string, what: string): void {
  if (sha256(bytes) !== digest) {
    throw new KairosError('DIGEST_MISMATCH', `digest mismatch for ${what} ${digest.slice(0, 19)}…`, {
      exitCode: ExitCode.dataErr,
    });
  }
}

function combine(
  layers: Descriptor[],
  diffIds: string[],
  open: (digest: string) => Promise<Readable>,
): LayerSource[] {
  if (diffIds.length !== 0 && diffIds.length !== layers.length) {
    throw new KairosError(
      'MANIFEST_INVALID',
      'invalid image: config and manifest disagree on the layer count',
      {
        exitCode: ExitCode.dataErr,
      },
    );
  }
  return layers.map((layer, index) => ({
    digest: layer.digest,
    size: layer.size,
    ...(diffIds[index] === undefined ? {} : { diffId: diffIds[index] }),
    open: () => open(layer.digest),
  }));
}

export async function registryPlan(
  client: RegistryClient,
  repository: string,
  reference: string,
  platform?: Platform,
): Promise<ImagePlan> {
  let fetched = await client.manifest(repository, reference);
  let parsed = parseManifest(fetched.bytes, fetched.mediaType);
  for (let depth = 0; parsed.kind === 'index'; depth += 1) {
    if (depth > 2) throw new KairosError('MANIFEST_INVALID', 'invalid image: indexes nested too deep');
    fetched = await client.manifest(repository, selectPlatform(parsed.manifests, platform).digest);
    parsed = parseManifest(fetched.bytes, fetched.mediaType);
  }
  const manifest = parsed.manifest;
  const configStream = await client.blob(repository, manifest.config.digest);
  const configBytes = await readLimited(configStream, MAX_JSON);
  verify(configBytes, manifest.config.digest, 'image config');
  const config = parseImageConfig(configBytes);
  return {
    digest: fetched.digest,
    layers: combine(manifest.layers, config.diffIds, (digest) => client.blob(repository, digest)),
  };
}

async function readLimited(stream: Readable, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      stream.destroy();
      throw new KairosError('MANIFEST_INVALID', 'invalid image: config blob too large', {
        exitCode: ExitCode.dataErr,
      });
    }
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}

function blobPath(layoutDir: string, digest: string): string {
  return join(layoutDir, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

async function readJson(path: string, what: string): Promise<Buffer> {
  try {
    const info = await stat(path);
    if (info.size > MAX_JSON) throw new Error('too large');
    return await readFile(path);
  } catch {
    throw new KairosError('ARCHIVE_INVALID', `image archive has no readable ${what}`, {
      exitCode: ExitCode.dataErr,
    });
  }
}

/** An unpacked OCI image layout (index.json + blobs/) or `docker save` tree (manifest.json). */
export async function layoutPlan(dir: string, platform?: Platform): Promise<ImagePlan> {
  const hasIndex = await stat(join(dir, 'index.json')).then(
    () => true,
    () => false,
  );
  if (!hasIndex) return dockerSavePlan(dir);
  let parsed = parseManifest(await readJson(join(dir, 'index.json'), 'index.json'));
  let digest = '';
  for (let depth = 0; parsed.kind === 'index'; depth += 1) {
    if (depth > 2) throw new KairosError('MANIFEST_INVALID', 'invalid image: indexes nested too deep');
    const chosen = selectPlatform(parsed.manifests, platform);
    const bytes = await readJson(blobPath(dir, chosen.digest), `manifest ${chosen.digest}`);
    verify(bytes, chosen.digest, 'manifest');
    digest = chosen.digest;
    parsed = parseManifest(bytes, chosen.mediaType);
  }
  const manifest = parsed.manifest;
  const configBytes = await readJson(blobPath(dir, manifest.config.digest), 'image config');
  verify(configBytes, manifest.config.digest, 'image config');
  const config = parseImageConfig(configBytes);
  return {
    digest,
    layers: combine(manifest.layers, config.diffIds, (layerDigest) => openFile(blobPath(dir, layerDigest))),
  };
}

async function dockerSavePlan(dir: string): Promise<ImagePlan> {
  const list = JSON.parse(
    (await readJson(join(dir, 'manifest.json'), 'index.json or manifest.json')).toString('utf8'),
  ) as unknown;
  const first = Array.isArray(list)
    ? (list[0] as { Config?: unknown; Layers?: unknown } | undefined)
    : undefined;
  if (first === undefined || typeof first.Config !== 'string' || !Array.isArray(first.Layers)) {
    throw new KairosError('ARCHIVE_INVALID', 'image archive manifest.json lists no image', {
      exitCode: ExitCode.dataErr,
    });
  }
  const configBytes = await readJson(join(dir, first.Config), 'image config');
  const configDigest = sha256(configBytes);
  const named = /([a-f0-9]{64})(?:\.json)?$/.exec(first.Config);
  if (named !== null) verify(configBytes, `sha256:${named[1]}`, 'image config');
  const config = parseImageConfig(configBytes);
  const layers = first.Layers.map(String);
  if (config.diffIds.length !== layers.length) {
    throw new KairosError(
      'ARCHIVE_INVALID',
      'image archive config and manifest.json disagree on the layers',
      {
        exitCode: ExitCode.dataErr,
      },
    );
  }
  // Layers of `docker save` are verified by their diff_id (the uncompressed tar's digest).
  return {
    digest: configDigest,
    layers: layers.map((path, index) => ({
      diffId: config.diffIds[index]!,
      open: () => openFile(join(dir, path)),
    })),
  };
}

async function openFile(path: string): Promise<Readable> {
  await stat(path).catch(() => {
    throw new KairosError('ARCHIVE_TRUNCATED', `image archive is missing blob ${path.split('/').pop()}`, {
      exitCode: ExitCode.dataErr,
    });
  });
  return createReadStream(path);
}
