import { describe, expect, it } from 'vitest';
import {
  MEDIA,
  hostPlatform,
  parseImageConfig,
  parseManifest,
  selectPlatform,
  type Descriptor,
} from './manifest.ts';

const d = (n: number): string => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const bytes = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

describe('manifests', () => {
  it('reads OCI and Docker image manifests', () => {
    for (const mediaType of [MEDIA.ociManifest, MEDIA.dockerManifest]) {
      const parsed = parseManifest(
        bytes({
          schemaVersion: 2,
          mediaType,
          config: { digest: d(1), size: 10 },
          layers: [{ digest: d(2), size: 5 }],
        }),
      );
      expect(parsed).toMatchObject({
        kind: 'image',
        manifest: { config: { digest: d(1) }, layers: [{ digest: d(2), size: 5 }] },
      });
    }
  });

  it('reads indexes and manifest lists, by field or by content type', () => {
    const list = {
      schemaVersion: 2,
      manifests: [{ digest: d(3), size: 1, platform: { os: 'linux', architecture: 'amd64' } }],
    };
    expect(parseManifest(bytes({ ...list, mediaType: MEDIA.dockerList }))).toMatchObject({ kind: 'index' });
    expect(parseManifest(bytes(list), `${MEDIA.ociIndex}; charset=utf-8`)).toMatchObject({ kind: 'index' });
  });

  it('rejects what it cannot trust', () => {
    expect(() => parseManifest(Buffer.from('{'))).toThrow(/not JSON/);
    expect(() => parseManifest(bytes({ schemaVersion: 1, layers: [] }))).toThrow(/schema version 2/);
    expect(() =>
      parseManifest(bytes({ schemaVersion: 2, config: { digest: 'md5:x', size: 1 }, layers: [] })),
    ).toThrow(/sha256/);
  });

  it('selects this machine platform, preferring the exact variant', () => {
    const entries: Descriptor[] = [
      { mediaType: '', digest: d(1), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v6' } },
      { mediaType: '', digest: d(2), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
      { mediaType: '', digest: d(3), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: '', digest: d(4), size: 1, platform: { os: 'windows', architecture: 'amd64' } },
    ];
    expect(selectPlatform(entries, hostPlatform('x64')).digest).toBe(d(3));
    expect(selectPlatform(entries, hostPlatform('arm')).digest).toBe(d(2));
    expect(() => selectPlatform(entries, hostPlatform('riscv64'))).toThrow(
      /no linux\/riscv64 variant \(it offers: linux\/arm/,
    );
    expect(selectPlatform([{ mediaType: '', digest: d(5), size: 1 }]).digest).toBe(d(5));
  });

  it('reads diff_ids from the image config', () => {
    expect(
      parseImageConfig(bytes({ os: 'linux', architecture: 'amd64', rootfs: { diff_ids: [d(1)] } })),
    ).toEqual({
      os: 'linux',
      architecture: 'amd64',
      diffIds: [d(1)],
    });
    expect(() => parseImageConfig(bytes({ rootfs: { diff_ids: ['nope'] } }))).toThrow(/diff_id/);
  });
});
