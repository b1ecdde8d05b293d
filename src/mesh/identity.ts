import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { join } from 'node:path';
import { KairosError, ExitCode } from '../shared/errors.ts';
import { readFileIfExists, writeFileAtomic } from '../shared/secure-file.ts';

export const IDENTITY_FILE = 'identity.key';

/** The node's libp2p key, created once and kept (0600) so a restarted node keeps its peer id. */
export async function loadOrCreateIdentity(dataDir: string): Promise<PrivateKey> {
  const path = join(dataDir, IDENTITY_FILE);
  const existing = await readFileIfExists(path);
  if (existing !== undefined) {
    try {
      return privateKeyFromProtobuf(existing);
    } catch (error) {
      throw new KairosError(
        'IDENTITY_CORRUPT',
        `${path} is not a valid identity key (move it away to create a new identity)`,
        {
          exitCode: ExitCode.config,
          cause: error,
        },
      );
    }
  }
  const key = await generateKeyPair('Ed25519');
  await writeFileAtomic(path, privateKeyToProtobuf(key), 0o600);
  return key;
}
