import { describe, expect, it } from 'vitest';
import { admissionProof, newNonce, verifyAdmissionProof, type ProofInput } from './admission-proof.ts';
import { deriveKeys, newToken } from '../token/index.ts';

const alice = '12D3KooWAlice';
const bob = '12D3KooWBob';

function input(key: Uint8Array, overrides: Partial<ProofInput> = {}): ProofInput {
  return {
    key,
    role: 'responder',
    initiatorNonce: nonceI,
    responderNonce: nonceR,
    proverId: bob,
    verifierId: alice,
    ...overrides,
  };
}

const nonceI = newNonce();
const nonceR = newNonce();

describe('admission proof', () => {
  const key = deriveKeys(newToken()).admissionKey;

  it('accepts the right token', () => {
    expect(verifyAdmissionProof(input(key), admissionProof(input(key)))).toBe(true);
  });

  it('refuses a proof made with another token', () => {
    const other = deriveKeys(newToken()).admissionKey;
    expect(verifyAdmissionProof(input(key), admissionProof(input(other)))).toBe(false);
  });

  it('refuses the same token under another network id', () => {
    const token = newToken();
    const a = deriveKeys(token, 'a').admissionKey;
    const b = deriveKeys(token, 'b').admissionKey;
    expect(verifyAdmissionProof(input(a), admissionProof(input(b)))).toBe(false);
  });

  it('refuses a replayed proof: fresh nonce, swapped ids or roles', () => {
    const recorded = admissionProof(input(key));
    expect(verifyAdmissionProof(input(key, { responderNonce: newNonce() }), recorded)).toBe(false);
    expect(verifyAdmissionProof(input(key, { initiatorNonce: newNonce() }), recorded)).toBe(false);
    expect(verifyAdmissionProof(input(key, { proverId: alice, verifierId: bob }), recorded)).toBe(false);
    expect(verifyAdmissionProof(input(key, { verifierId: '12D3KooWMallory' }), recorded)).toBe(false);
    expect(verifyAdmissionProof(input(key, { role: 'initiator' }), recorded)).toBe(false);
  });

  it('refuses malformed proofs and nonces', () => {
    expect(verifyAdmissionProof(input(key), new Uint8Array(5))).toBe(false);
    expect(
      verifyAdmissionProof(input(key, { initiatorNonce: new Uint8Array(3) }), admissionProof(input(key))),
    ).toBe(false);
  });
});
