import { describe, expect, it } from 'vitest';
import type { NetworkInterfaceInfo } from 'node:os';
import { parseCidr } from './cidr.ts';
import { candidateEndpoints, orderForDial } from './endpoints.ts';

const info = (address: string, internal = false): NetworkInterfaceInfo =>
  ({
    address,
    internal,
    family: address.includes(':') ? 'IPv6' : 'IPv4',
    netmask: '',
    mac: '',
    cidr: null,
  }) as NetworkInterfaceInfo;

const overlay = parseCidr('100.90.0.0/16');

describe('candidate endpoints', () => {
  const interfaces = {
    lo: [info('127.0.0.1', true)],
    eth0: [info('198.18.0.2'), info('fe80::1'), info('2001:db8::2')],
    kmesh0: [info('100.90.3.4')],
    cni0: [info('10.42.0.1')],
    flannel1: [info('10.42.0.0')],
  };

  it('lists configured, interface and observed addresses with the listen port, deduplicated', () => {
    expect(
      candidateEndpoints({
        configured: ['vpn.example:51000'],
        interfaces,
        observed: [
          '198.18.100.1',
          '/ip4/198.18.100.2/tcp/4001/p2p/12D3Koo',
          '198.18.0.2',
          '127.0.0.1',
          '/dns4/x/tcp/1',
          '/ip4/198.18.7.7/tcp/1/p2p/Qm/p2p-circuit',
        ],
        listenPort: 51830,
        overlay,
        ownIface: 'kmesh0',
      }),
    ).toEqual([
      'vpn.example:51000',
      '198.18.0.2:51830',
      '[2001:db8::2]:51830',
      '198.18.100.1:51830',
      '198.18.100.2:51830',
    ]);
  });

  it('includes loopback only in test mode', () => {
    const list = candidateEndpoints({
      configured: [],
      interfaces: { lo: [info('127.0.0.1', true)] },
      observed: [],
      listenPort: 1,
      overlay,
      ownIface: 'x',
      includeLoopback: true,
    });
    expect(list).toEqual(['127.0.0.1:1']);
  });

  it('dials endpoints on a local subnet first', () => {
    const order = orderForDial(
      ['203.0.113.1:1', '198.18.1.5:1', '[2001:db8::1]:1'],
      [parseCidr('198.18.1.0/24')],
    );
    expect(order).toEqual(['198.18.1.5:1', '203.0.113.1:1', '[2001:db8::1]:1']);
  });
});
