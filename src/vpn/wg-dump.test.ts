import { describe, expect, it } from 'vitest';
import { parseWgDump } from './wg-dump.ts';

// Captured from `wg show <iface> dump` of wireguard-go v0.0.20220316 (private key replaced).
const DUMP = [
  'PRIVATE\tRiY/73+niWwxf2yP5Asqm0xJaombeAtc6VKfJ9EU8kw=\t51999\toff',
  'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\t(none)\t198.18.0.9:51830\t100.64.0.2/32,100.64.1.0/24\t1764100000\t1200\t3400\t25',
  'TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=\t(none)\t(none)\t(none)\t0\t0\t0\toff',
].join('\n');

describe('parseWgDump', () => {
  it('reads the interface line and every peer, dropping the private key', () => {
    const dump = parseWgDump(DUMP);
    expect(dump.publicKey).toBe('RiY/73+niWwxf2yP5Asqm0xJaombeAtc6VKfJ9EU8kw=');
    expect(dump.listenPort).toBe(51999);
    expect(JSON.stringify(dump)).not.toContain('PRIVATE');
    expect(dump.peers).toEqual([
      {
        publicKey: 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=',
        endpoint: '198.18.0.9:51830',
        allowedIps: ['100.64.0.2/32', '100.64.1.0/24'],
        latestHandshakeMs: 1764100000_000,
        rxBytes: 1200,
        txBytes: 3400,
        keepalive: 25,
      },
      {
        publicKey: 'TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=',
        endpoint: undefined,
        allowedIps: [],
        latestHandshakeMs: 0,
        rxBytes: 0,
        txBytes: 0,
        keepalive: 0,
      },
    ]);
  });

  it('rejects output that is not a dump', () => {
    expect(() => parseWgDump('')).toThrow(/interface line/);
    expect(() => parseWgDump('a\tb\t1\toff\nshort\tline')).toThrow(/short peer line/);
  });
});
