import { describe, expect, it } from 'vitest';
import type { WgPeerState } from './wg-dump.ts';
import { planWg, type DesiredPeer } from './wg-plan.ts';

const peer = (key: string, more: Partial<DesiredPeer> = {}): DesiredPeer => ({
  publicKey: key,
  allowedIps: [`100.90.0.${key.length}/32`],
  keepalive: 25,
  endpoint: '198.18.0.2:51830',
  applyEndpoint: false,
  reset: false,
  ...more,
});

/** What `wg` would show after applying the desired peers (for the idempotence check). */
const applied = (p: DesiredPeer): WgPeerState => ({
  publicKey: p.publicKey,
  endpoint: p.endpoint,
  allowedIps: p.allowedIps,
  latestHandshakeMs: 0,
  rxBytes: 0,
  txBytes: 0,
  keepalive: p.keepalive,
});

describe('planWg', () => {
  it('adds a new peer with endpoint before keepalive, removes unknown ones', () => {
    const stale = applied(peer('OLD'));
    expect(planWg('kmesh0', [peer('NEW')], [stale])).toEqual([
      ['set', 'kmesh0', 'peer', 'OLD', 'remove'],
      [
        'set',
        'kmesh0',
        'peer',
        'NEW',
        'allowed-ips',
        '100.90.0.3/32',
        'endpoint',
        '198.18.0.2:51830',
        'persistent-keepalive',
        '25',
      ],
    ]);
  });

  it('is idempotent: a second run on the result plans nothing', () => {
    const desired = [peer('A'), peer('BB', { endpoint: undefined }), peer('CCC', { applyEndpoint: true })];
    expect(planWg('kmesh0', desired, desired.map(applied))).toEqual([]);
  });

  it('changes only what differs, leaves a roamed endpoint alone unless asked', () => {
    const roamed = { ...applied(peer('A')), endpoint: '203.0.113.9:4000' };
    expect(planWg('wg1', [peer('A')], [roamed])).toEqual([]);
    expect(planWg('wg1', [peer('A', { applyEndpoint: true })], [roamed])).toEqual([
      ['set', 'wg1', 'peer', 'A', 'endpoint', '198.18.0.2:51830'],
    ]);
    const moved = peer('A', { allowedIps: ['100.90.9.9/32'], keepalive: 0 });
    expect(planWg('wg1', [moved], [applied(peer('A'))])).toEqual([
      ['set', 'wg1', 'peer', 'A', 'allowed-ips', '100.90.9.9/32', 'persistent-keepalive', '0'],
    ]);
  });

  it('treats allowed-ips as a set', () => {
    const two = peer('A', { allowedIps: ['100.90.0.1/32', '100.90.0.2/32'] });
    const swapped = { ...applied(two), allowedIps: ['100.90.0.2/32', '100.90.0.1/32'] };
    expect(planWg('wg1', [two], [swapped])).toEqual([]);
  });

  it('resets by removing and re-adding the peer', () => {
    expect(
      planWg('wg1', [peer('A', { reset: true, endpoint: '127.0.0.1:4444' })], [applied(peer('A'))]),
    ).toEqual([
      ['set', 'wg1', 'peer', 'A', 'remove'],
      [
        'set',
        'wg1',
        'peer',
        'A',
        'allowed-ips',
        '100.90.0.1/32',
        'endpoint',
        '127.0.0.1:4444',
        'persistent-keepalive',
        '25',
      ],
    ]);
  });
});
