import { describe, expect, it } from 'vitest';
import { newPrivateKey, publicKeyOf } from './keys.ts';
import { parseVpnRecord, sameRecord } from './record.ts';

const good = {
  publicKey: publicKeyOf(newPrivateKey()),
  overlayIp: '100.90.1.2',
  since: 1,
  endpoints: ['198.18.0.2:51830', '[2001:db8::1]:51830'],
  listenPort: 51830,
  name: 'n1',
};

describe('vpn records', () => {
  it('accepts a well-formed record and compares records by content', () => {
    const record = parseVpnRecord(good);
    expect(record).toEqual(good);
    expect(sameRecord(record, { ...good })).toBe(true);
    expect(sameRecord(record, { ...good, endpoints: [] })).toBe(false);
  });

  it.each([
    ['a bad key', { publicKey: 'nope' }],
    ['a bad address', { overlayIp: '100.90.1' }],
    ['a shell string endpoint', { endpoints: ['1.2.3.4:5; rm -rf /'] }],
    ['a bad port', { listenPort: 0 }],
    ['too many endpoints', { endpoints: Array.from({ length: 17 }, (_, i) => `198.18.0.${i}:1`) }],
  ])('rejects %s', (_name, change) => {
    expect(parseVpnRecord({ ...good, ...change })).toBeUndefined();
  });
});
