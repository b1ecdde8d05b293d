import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Key } from 'interface-datastore';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PeerStoreFile } from './peer-store-file.ts';

describe('peer store file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'km-peerstore-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps what was put across a close and an open, in a file only the owner reads', async () => {
    const path = join(dir, 'peerstore.json');
    const first = new PeerStoreFile(path);
    await first.open();
    first.put(new Key('/peers/a'), new Uint8Array([1, 2, 3]));
    first.put(new Key('/peers/b'), new Uint8Array([4]));
    first.delete(new Key('/peers/b'));
    await first.close();
    expect((await stat(path)).mode & 0o777).toBe(0o600);

    const second = new PeerStoreFile(path);
    await second.open();
    expect(second.get(new Key('/peers/a'))).toEqual(new Uint8Array([1, 2, 3]));
    expect(second.has(new Key('/peers/b'))).toBe(false);
    await second.close();
  });

  it('starts empty from a missing or corrupt file, and does not rewrite a file nothing changed', async () => {
    const path = join(dir, 'peerstore.json');
    await writeFile(path, '{"version":1,"entries":');
    const store = new PeerStoreFile(path);
    await store.open();
    expect(store.has(new Key('/peers/a'))).toBe(false);
    await store.close();
    expect(await readFile(path, 'utf8')).toBe('{"version":1,"entries":');
  });
});
