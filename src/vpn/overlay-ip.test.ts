import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isHostOf, parseCidr } from './cidr.ts';
import { candidateIp, chooseOwnIp, winningClaims, type IpClaim } from './overlay-ip.ts';

const net16 = parseCidr('100.90.0.0/16');

describe('overlay IP allocation', () => {
  it('hashes a peer id to the same host address every time, never network or broadcast', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.nat(50), (peerId, attempt) => {
        const ip = candidateIp(net16, peerId, attempt);
        expect(ip).toBe(candidateIp(net16, peerId, attempt));
        expect(isHostOf(net16, ip)).toBe(true);
      }),
    );
    const tiny = parseCidr('100.64.0.0/30');
    for (let i = 0; i < 100; i++)
      expect(['100.64.0.1', '100.64.0.2']).toContain(candidateIp(tiny, `p${i}`, 0));
  });

  it('takes the first hashed choice on an empty ledger and keeps a previous claim across restarts', () => {
    const first = chooseOwnIp({ network: net16, selfId: 'A', others: [], now: 5 });
    expect(first).toEqual({ peerId: 'A', overlayIp: candidateIp(net16, 'A', 0), since: 5 });
    const previous = { peerId: 'A', overlayIp: '100.90.7.7', since: 1 };
    expect(chooseOwnIp({ network: net16, selfId: 'A', others: [], previous, now: 99 })).toEqual(previous);
  });

  it('skips addresses other nodes claim', () => {
    const taken = candidateIp(net16, 'A', 0);
    const mine = chooseOwnIp({
      network: net16,
      selfId: 'A',
      others: [{ peerId: 'B', overlayIp: taken, since: 9 }],
      now: 1,
    });
    expect(mine.overlayIp).toBe(candidateIp(net16, 'A', 1));
  });

  it('an older claim keeps the address; the newer claimant moves; ties go to the smaller id', () => {
    const ip = '100.90.1.1';
    const older = { peerId: 'Z', overlayIp: ip, since: 1 };
    const moved = chooseOwnIp({
      network: net16,
      selfId: 'A',
      others: [older],
      previous: { peerId: 'A', overlayIp: ip, since: 2 },
      now: 3,
    });
    expect(moved.overlayIp).not.toBe(ip);
    const kept = chooseOwnIp({
      network: net16,
      selfId: 'A',
      others: [{ peerId: 'Z', overlayIp: ip, since: 1 }],
      previous: { peerId: 'A', overlayIp: ip, since: 1 },
      now: 3,
    });
    expect(kept.overlayIp).toBe(ip);
    expect(winningClaims(net16, [older, { peerId: 'A', overlayIp: ip, since: 2 }]).get(ip)?.peerId).toBe('Z');
  });

  it('fills a small network completely and then refuses', () => {
    const net = parseCidr('100.64.0.0/29'); // 6 hosts
    const claims: IpClaim[] = [];
    for (let i = 0; i < 6; i++)
      claims.push(chooseOwnIp({ network: net, selfId: `n${i}`, others: claims, now: i }));
    expect(new Set(claims.map((c) => c.overlayIp)).size).toBe(6);
    expect(() => chooseOwnIp({ network: net, selfId: 'n6', others: claims, now: 7 })).toThrow(
      /every address/,
    );
  });

  it('nodes that claim concurrently converge to distinct addresses once they see each other', () => {
    // Property: any set of concurrent first claims, re-run with everyone's records until stable,
    // ends with every node on a different address, and nodes that won never move.
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 2, maxLength: 12 }),
        fc.array(fc.nat(3), { minLength: 12, maxLength: 12 }),
        (ids, times) => {
          const net = parseCidr('100.64.0.0/28'); // 14 hosts: plenty of collisions
          let claims = ids.map((id, i) =>
            chooseOwnIp({ network: net, selfId: id, others: [], now: times[i] ?? 0 }),
          );
          for (let round = 0; round < 20; round++) {
            const next = claims.map((claim) =>
              chooseOwnIp({
                network: net,
                selfId: claim.peerId,
                others: claims,
                previous: claim,
                now: 100 + round,
              }),
            );
            const winners = winningClaims(net, claims);
            for (const [ip, holder] of winners)
              expect(next.find((c) => c.peerId === holder.peerId)?.overlayIp).toBe(ip);
            claims = next;
          }
          expect(new Set(claims.map((c) => c.overlayIp)).size).toBe(ids.length);
        },
      ),
    );
  });
});
