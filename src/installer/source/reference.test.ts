import { describe, expect, it } from 'vitest';
import { isLoopbackHost, parseSource } from './reference.ts';

describe('source references', () => {
  it('parses registry references with tags, digests and ports', () => {
    expect(parseSource('oci://127.0.0.1:5000/kairos/os:v2')).toMatchObject({
      kind: 'registry',
      host: '127.0.0.1:5000',
      repository: 'kairos/os',
      reference: 'v2',
    });
    expect(parseSource('oci://quay.io/kairos/core')).toMatchObject({ reference: 'latest' });
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(parseSource(`oci://[::1]:5000/os@${digest}`)).toMatchObject({
      host: '[::1]:5000',
      reference: digest,
    });
    expect(parseSource('oci-archive:/srv/os.tar')).toEqual({
      kind: 'archive',
      path: '/srv/os.tar',
      text: 'oci-archive:/srv/os.tar',
    });
    expect(parseSource('dir:/srv/root')).toMatchObject({ kind: 'dir', path: '/srv/root' });
  });

  it('refuses malformed sources with a reason', () => {
    expect(() => parseSource('http://x/y')).toThrow(/expected oci:\/\/HOST\/REPO:TAG/);
    expect(() => parseSource('oci://host/Repo:1')).toThrow(/bad repository/);
    expect(() => parseSource('oci://host/os@sha256:123')).toThrow(/digest must be/);
    expect(() => parseSource('oci://host/os:bad tag')).toThrow(/bad tag/);
    expect(() => parseSource('oci-archive:')).toThrow(/no archive path/);
  });

  it('knows loopback hosts', () => {
    for (const host of ['127.0.0.1:5000', 'localhost', '[::1]:80', '127.9.9.9'])
      expect(isLoopbackHost(host)).toBe(true);
    for (const host of ['10.0.0.1', 'registry.local:5000', '128.0.0.1'])
      expect(isLoopbackHost(host)).toBe(false);
  });
});
