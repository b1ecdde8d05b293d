import { describe, expect, it } from 'vitest';
import { newToken } from './codec.ts';
import { activeEpochs, deriveKeys, rendezvousCid } from './derive.ts';

describe('key derivation', () => {
  it('is deterministic and separates every label', () => {
    const token = newToken();
    const a = deriveKeys(token);
    const b = deriveKeys(token);
    expect(a).toEqual(b);
    const keys = [a.admissionKey, a.rendezvousKey, a.datagramKey, a.pnetKey].map((k) =>
      Buffer.from(k).toString('hex'),
    );
    expect(new Set(keys).size).toBe(4);
  });

  it('gives another network id other keys from the same secret', () => {
    const token = newToken();
    expect(Buffer.from(deriveKeys(token, 'a').admissionKey)).not.toEqual(
      Buffer.from(deriveKeys(token, 'b').admissionKey),
    );
    expect(deriveKeys(token, 'a').fingerprint).not.toBe(deriveKeys(token, 'b').fingerprint);
  });

  it('rotates rendezvous per epoch and accepts the neighbours', async () => {
    const { rendezvousKey } = deriveKeys(newToken());
    const [previous, current, next] = activeEpochs(1_000_000_000, 300);
    expect([previous, current, next]).toEqual([3332, 3333, 3334]);
    const cids = await Promise.all([previous!, current!, next!].map((e) => rendezvousCid(rendezvousKey, e)));
    expect(new Set(cids.map(String)).size).toBe(3);
    expect(String(await rendezvousCid(rendezvousKey, 3333))).toBe(String(cids[1]));
  });
});
