import { describe, expect, it } from 'vitest';
import { MemberTable } from './member-table.ts';

describe('member table', () => {
  const self = { peerId: 'self', name: 'a', addresses: ['/ip4/127.0.0.1/tcp/1/p2p/self'] };

  it('lists self as alive and new members as not alive until connected', () => {
    const table = new MemberTable(self, 4000);
    expect(table.learn('p1', 'b', ['/ip4/127.0.0.1/tcp/2/p2p/p1'])).toBe(true);
    expect(table.learn('p1', 'b', undefined)).toBe(false);
    expect(table.list(1000).map((m) => [m.peerId, m.self, m.alive])).toEqual([
      ['self', true, true],
      ['p1', false, false],
    ]);
    table.setConnected('p1', true, 1000);
    expect(table.isAlive('p1', 1000)).toBe(true);
  });

  it('drops a member at once on disconnect and after the TTL of silence', () => {
    const table = new MemberTable(self, 4000);
    table.learn('p1', 'b', []);
    table.setConnected('p1', true, 0);
    table.heard('p1', 1000);
    expect(table.isAlive('p1', 5000)).toBe(true);
    expect(table.isAlive('p1', 5001)).toBe(false);
    table.heard('p1', 6000);
    expect(table.isAlive('p1', 6000)).toBe(true);
    table.setConnected('p1', false, 6000);
    expect(table.isAlive('p1', 6000)).toBe(false);
    expect(table.get('p1')?.lastSeen).toBe(6000);
  });

  it('counts a member heard by datagram alive for the TTL, until its connection takes over', () => {
    const table = new MemberTable(self, 4000);
    table.learn('p1', 'b', []);
    table.heardDatagram('p1', 1000);
    expect(table.isAliveFirstHand('p1', 5000)).toBe(true);
    expect(table.isAliveFirstHand('p1', 5001)).toBe(false);
    expect(table.get('p1')).toMatchObject({ lastSeen: 1000, connected: false });
    table.heardDatagram('p1', 6000);
    table.setConnected('p1', true, 6500);
    // Once connected, a datagram heard earlier does not outlive the connection.
    table.setConnected('p1', false, 7000);
    expect(table.isAlive('p1', 7000)).toBe(false);
    table.setConnected('p1', true, 8000);
    table.heardDatagram('p1', 8500);
    table.setConnected('p1', false, 9000);
    expect(table.isAlive('p1', 9000)).toBe(false);
    table.heardDatagram('unknown', 9000);
    expect(table.has('unknown')).toBe(false);
  });

  it('tells since when a member is alive without a break, as listed', () => {
    const table = new MemberTable(self, 4000);
    table.learn('p1', 'b', []);
    table.list(0);
    table.setConnected('p1', true, 100);
    table.list(100);
    expect(table.list(150).find((m) => m.peerId === 'p1')?.aliveSince).toBe(100);
    expect(table.list(150).find((m) => m.self)?.aliveSince).toBe(0);
    table.setConnected('p1', false, 200);
    table.list(200);
    expect(table.list(250).find((m) => m.peerId === 'p1')).not.toHaveProperty('aliveSince');
    table.setConnected('p1', true, 300);
    table.list(300);
    table.list(400);
    expect(table.list(450).find((m) => m.peerId === 'p1')?.aliveSince).toBe(300);
  });

  it('keeps known addresses when an update has none', () => {
    const table = new MemberTable(self, 4000);
    table.learn('p1', 'b', ['/x']);
    table.learn('p1', '', []);
    expect(table.get('p1')).toMatchObject({ name: 'b', addresses: ['/x'] });
  });

  it('counts a member alive second-hand while a member alive to us first-hand vouches for it', () => {
    const table = new MemberTable(self, 4000);
    table.learn('v', 'voucher', []);
    table.learn('s', 'subject', []);
    table.vouch('v', 's', true);
    expect(table.isAlive('s', 0)).toBe(false); // the voucher itself is not alive to us
    table.setConnected('v', true, 1000);
    expect(table.isAlive('s', 1000)).toBe(true);
    expect(table.isAliveFirstHand('s', 1000)).toBe(false);
    expect(table.list(2000).find((m) => m.peerId === 's')).toMatchObject({ alive: true, lastSeen: 1000 });
    expect(table.isAlive('s', 5001)).toBe(false); // the voucher went silent
    table.heard('v', 6000);
    table.vouch('v', 's', false);
    expect(table.isAlive('s', 6000)).toBe(false);
  });

  it('drops the vouches of a member we lost, and a hello replaces all earlier ones', () => {
    const table = new MemberTable(self, 4000);
    for (const id of ['v', 's', 't']) table.learn(id, id, []);
    table.setConnected('v', true, 0);
    table.vouch('v', 's', true);
    table.replaceVouches('v', ['t']);
    expect([table.isAlive('s', 0), table.isAlive('t', 0)]).toEqual([false, true]);
    table.forgetVoucher('v');
    expect(table.isAlive('t', 0)).toBe(false);
  });

  it('ignores vouches for itself or by a member for itself', () => {
    const table = new MemberTable(self, 4000);
    table.learn('v', 'v', []);
    table.vouch('v', 'v', true);
    expect(table.isAlive('v', 0)).toBe(false);
    table.vouch('v', 'self', false);
    expect(table.isAlive('self', 0)).toBe(true);
  });
});
