import { mkdtemp, readFile, rm, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { run } from '../shared/exec.ts';
import { fileMode } from '../shared/secure-file.ts';
import { isWgKey, loadOrCreateWgKey, newPrivateKey, publicKeyOf } from './keys.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('WireGuard keys', () => {
  it('derives the same public key as `wg pubkey`', async () => {
    for (let i = 0; i < 3; i++) {
      const privateKey = newPrivateKey();
      expect(isWgKey(privateKey)).toBe(true);
      const { stdout } = await run('wg', ['pubkey'], { input: `${privateKey}\n` });
      expect(publicKeyOf(privateKey)).toBe(stdout.trim());
    }
  });

  it('creates the key file 0600 once and reads the same key back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kmv-keys-'));
    dirs.push(dir);
    const first = await loadOrCreateWgKey(dir);
    expect(await fileMode(first.privateKeyFile)).toBe(0o600);
    const again = await loadOrCreateWgKey(dir);
    expect(again.publicKey).toBe(first.publicKey);
    expect((await readFile(first.privateKeyFile, 'utf8')).trim()).not.toBe(first.publicKey);
    await chmod(first.privateKeyFile, 0o644);
    await expect(loadOrCreateWgKey(dir)).rejects.toThrow(/readable by others/);
  });

  it('rejects text that is not a key', () => {
    expect(isWgKey('abc')).toBe(false);
    expect(() => publicKeyOf('c2hvcnQ=')).toThrow(/not a WireGuard private key/);
  });
});
