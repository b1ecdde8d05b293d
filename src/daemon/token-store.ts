import { join } from 'node:path';
import { decodeToken, encodeToken, newToken, type NetworkToken } from '../token/index.ts';
import { readFileIfExists, writeFileAtomic } from '../shared/secure-file.ts';

export const TOKEN_FILE = 'token';

export interface ResolvedToken {
  token: NetworkToken;
  /** The token was created now: the operator needs to know how others join. */
  created: boolean;
  path: string;
}

/**
 * The token given (flag, env, file or config) wins; otherwise the one this data dir keeps;
 * otherwise a new one, stored 0600 so later starts join the same network.
 */
export async function resolveToken(dataDir: string, given: string | undefined): Promise<ResolvedToken> {
  const path = join(dataDir, TOKEN_FILE);
  if (given !== undefined) return { token: decodeToken(given), created: false, path };
  const stored = await readFileIfExists(path);
  if (stored !== undefined) return { token: decodeToken(stored.toString('utf8')), created: false, path };
  const token = newToken();
  await writeFileAtomic(path, `${encodeToken(token)}\n`, 0o600);
  return { token, created: true, path };
}
