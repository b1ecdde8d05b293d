import { ExitCode, KairosError } from '../../shared/errors.ts';

/** OCI and Docker v2 manifests, indexes and configs (pure parsing and platform choice). */
export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

export const MANIFEST_ACCEPT = Object.values(MEDIA).join(', ');

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface ImageManifest {
  config: Descriptor;
  layers: Descriptor[];
}

export type ParsedManifest =
  { kind: 'index'; manifests: Descriptor[] } | { kind: 'image'; manifest: ImageManifest };

const DIGEST = /^sha256:[a-f0-9]{64}$/;

function invalid(what: string): KairosError {
  return new KairosError('MANIFEST_INVALID', `invalid image manifest: ${what}`, {
    exitCode: ExitCode.dataErr,
  });
}

function descriptor(value: unknown, what: string): Descriptor {
  if (typeof value !== 'object' || value === null) throw invalid(`${what} is not an object`);
  const record = value as Record<string, unknown>;
  const { mediaType, digest, size, platform } = record;
  if (typeof digest !== 'string' || !DIGEST.test(digest)) throw invalid(`${what} has no sha256 digest`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    throw invalid(`${what} has no size`);
  const result: Descriptor = { mediaType: typeof mediaType === 'string' ? mediaType : '', digest, size };
  if (typeof platform === 'object' && platform !== null) {
    const p = platform as Record<string, unknown>;
    result.platform = {
      os: stringField(p['os']),
      architecture: stringField(p['architecture']),
      ...(typeof p['variant'] === 'string' ? { variant: p['variant'] } : {}),
    };
  }
  return result;
}

export function parseManifest(bytes: Uint8Array, contentType = ''): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw invalid('not JSON');
  }
  if (typeof json !== 'object' || json === null) throw invalid('not an object');
  const record = json as Record<string, unknown>;
  const mediaType =
    typeof record['mediaType'] === 'string' ? record['mediaType'] : contentType.split(';')[0]!.trim();
  if (Array.isArray(record['manifests']) || mediaType === MEDIA.ociIndex || mediaType === MEDIA.dockerList) {
    if (!Array.isArray(record['manifests'])) throw invalid('index without manifests');
    return {
      kind: 'index',
      manifests: record['manifests'].map((entry, i) => descriptor(entry, `manifests[${i}]`)),
    };
  }
  if (record['schemaVersion'] !== 2) throw invalid('only schema version 2 manifests are supported');
  if (!Array.isArray(record['layers'])) throw invalid('no layers');
  return {
    kind: 'image',
    manifest: {
      config: descriptor(record['config'], 'config'),
      layers: record['layers'].map((entry, i) => descriptor(entry, `layers[${i}]`)),
    },
  };
}

/** This machine's platform in OCI terms. */
export function hostPlatform(arch: string = process.arch): Platform {
  const map: Record<string, Platform> = {
    x64: { os: 'linux', architecture: 'amd64' },
    arm64: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    arm: { os: 'linux', architecture: 'arm', variant: 'v7' },
    ia32: { os: 'linux', architecture: '386' },
    riscv64: { os: 'linux', architecture: 'riscv64' },
    ppc64: { os: 'linux', architecture: 'ppc64le' },
    s390x: { os: 'linux', architecture: 's390x' },
  };
  return map[arch] ?? { os: 'linux', architecture: arch };
}

/** The index entry for `platform`; an entry without a variant matches any variant. */
export function selectPlatform(manifests: Descriptor[], platform: Platform = hostPlatform()): Descriptor {
  const candidates = manifests.filter(
    (entry) =>
      entry.platform !== undefined &&
      entry.platform.os === platform.os &&
      entry.platform.architecture === platform.architecture,
  );
  const exact = candidates.find((entry) => entry.platform?.variant === platform.variant);
  const chosen = exact ?? candidates.find((entry) => entry.platform?.variant === undefined) ?? candidates[0];
  if (chosen !== undefined) return chosen;
  // OCI layouts written by tools often carry one manifest without a platform.
  const untagged = manifests.filter((entry) => entry.platform === undefined);
  if (untagged.length === 1) return untagged[0]!;
  const offered = manifests
    .map((entry) => `${entry.platform?.os}/${entry.platform?.architecture}`)
    .join(', ');
  throw new KairosError(
    'PLATFORM_NOT_FOUND',
    `the image has no ${platform.os}/${platform.architecture} variant (it offers: ${offered || 'none'})`,
    { exitCode: ExitCode.dataErr },
  );
}

export interface ImageConfig {
  os: string;
  architecture: string;
  diffIds: string[];
}

export function parseImageConfig(bytes: Uint8Array): ImageConfig {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw invalid('config is not JSON');
  }
  const rootfs = json['rootfs'] as { diff_ids?: unknown } | undefined;
  const diffIds = Array.isArray(rootfs?.diff_ids) ? rootfs.diff_ids.map(String) : [];
  if (!diffIds.every((id) => DIGEST.test(id))) throw invalid('config has a bad diff_id');
  return { os: stringField(json['os']), architecture: stringField(json['architecture']), diffIds };
}

function stringField(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
