import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Admission: both ends of a connection prove they hold the network's admission key.
 *
 *   initiator -> responder : nonceI
 *   responder -> initiator : nonceR, proof(responder)
 *   initiator -> responder : proof(initiator)
 *
 * A proof is HMAC(admissionKey, role || nonceI || nonceR || prover id || verifier id). Fresh
 * nonces from both sides make a recorded proof useless later; binding both peer ids (which
 * Noise authenticates) makes it useless on any other connection.
 */
export const NONCE_BYTES = 32;
export const PROOF_BYTES = 32;

export type AdmissionRole = 'initiator' | 'responder';

export interface ProofInput {
  key: Uint8Array;
  role: AdmissionRole;
  initiatorNonce: Uint8Array;
  responderNonce: Uint8Array;
  proverId: string;
  verifierId: string;
}

export function newNonce(): Uint8Array {
  return new Uint8Array(randomBytes(NONCE_BYTES));
}

export function admissionProof(input: ProofInput): Uint8Array {
  const mac = createHmac('sha256', input.key);
  mac.update(`kairos-mesh admission v1 ${input.role}\n`);
  mac.update(input.initiatorNonce);
  mac.update(input.responderNonce);
  mac.update(`${input.proverId}\n${input.verifierId}`);
  return new Uint8Array(mac.digest());
}

export function verifyAdmissionProof(input: ProofInput, proof: Uint8Array): boolean {
  if (
    proof.length !== PROOF_BYTES ||
    input.initiatorNonce.length !== NONCE_BYTES ||
    input.responderNonce.length !== NONCE_BYTES
  ) {
    return false;
  }
  return timingSafeEqual(admissionProof(input), proof);
}
