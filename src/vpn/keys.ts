import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { ExitCode, KairosError } from '../shared/errors.ts';
import { fileMode, readFileIfExists, writeFileAtomic } from '../shared/secure-file.ts';

export const WG_KEY_FILE = 'wireguard.key';

export interface WgKeyPair {
  /** Where the private key lives (base64, as `wg set private-key <file>` reads it). */
  privateKeyFile: string;
  publicKey: string;
}

/** Loads this node's WireGuard key pair from the data dir, creating it (0600) on first use. */
export async function loadOrCreateWgKey(dataDir: string): Promise<WgKeyPair> {
  const file = join(dataDir, WG_KEY_FILE);
  const existing = await readFileIfExists(file);
  if (existing !== undefined) {
    if (((await fileMode(file)) & 0o077) !== 0)
      throw new KairosError('VPN_KEY_MODE', `${file} is readable by others: chmod 600 it`, {
        exitCode: ExitCode.noPerm,
      });
    return { privateKeyFile: file, publicKey: publicKeyOf(existing.toString('utf8').trim(), file) };
  }
  const privateKey = newPrivateKey();
  await writeFileAtomic(file, `${privateKey}\n`, 0o600);
  return { privateKeyFile: file, publicKey: publicKeyOf(privateKey, file) };
}

/** A fresh X25519 private key as WireGuard writes it: base64 of the raw 32 bytes. */
export function newPrivateKey(): string {
  const { privateKey } = generateKeyPairSync('x25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return Buffer.from(jwk.d ?? '', 'base64url').toString('base64');
}

export function publicKeyOf(privateKeyBase64: string, where = 'private key'): string {
  const raw = Buffer.from(privateKeyBase64, 'base64');
  if (raw.length !== 32)
    throw new KairosError('VPN_KEY_INVALID', `${where} is not a WireGuard private key`, {
      exitCode: ExitCode.dataErr,
    });
  const privateKey = createPrivateKey({
    key: { kty: 'OKP', crv: 'X25519', d: raw.toString('base64url'), x: '' },
    format: 'jwk',
  });
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  return Buffer.from(jwk.x ?? '', 'base64url').toString('base64');
}

export function isWgKey(text: unknown): text is string {
  return typeof text === 'string' && /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(text);
}
