import { describe, expect, it } from 'vitest';
import { decodeToken, encodeToken, newToken, TOKEN_PREFIX } from './codec.ts';
import { KairosError } from '../shared/errors.ts';

function refusal(text: string): KairosError {
  try {
    decodeToken(text);
  } catch (error) {
    expect(error).toBeInstanceOf(KairosError);
    return error as KairosError;
  }
  throw new Error('token was accepted');
}

describe('network token', () => {
  it('round-trips every field', () => {
    const token = newToken({
      networkId: 'edge-eu',
      overlayCidr: '100.64.0.0/16',
      bootstrap: ['/ip4/198.18.0.1/tcp/4001'],
    });
    const decoded = decodeToken(encodeToken(token));
    expect(decoded).toEqual(token);
    expect(decoded.secret).toHaveLength(32);
  });

  it('uses a fresh secret every time', () => {
    expect(Buffer.from(newToken().secret).equals(Buffer.from(newToken().secret))).toBe(false);
  });

  it('refuses truncated, corrupted and foreign tokens with exit 78 and never echoes them', () => {
    const text = encodeToken(newToken());
    const flipped = text.slice(0, 20) + (text[20] === 'A' ? 'B' : 'A') + text.slice(21);
    const edgevpn = Buffer.from('otp:\n  dht:\n    interval: 9000\n    key: ABCDEF\n').toString('base64');
    const cases = [
      text.slice(0, text.length - 6),
      text.slice(0, 12),
      flipped,
      edgevpn,
      'hello',
      `${TOKEN_PREFIX}!!!`,
    ];
    for (const bad of cases) {
      const error = refusal(bad);
      expect(error.exitCode).toBe(78);
      expect(error.code).toBe('TOKEN_INVALID');
      expect(error.message).not.toContain(bad);
      expect(error.message.split('\n')).toHaveLength(1);
    }
    expect(refusal(edgevpn).message).toMatch(/edgevpn/);
    expect(refusal(text.slice(0, 12)).message).toMatch(/truncated/);
  });
});
