import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { Ledger, offlineTransport } from '../src/ledger/index.ts';
import { silentLogger } from '../src/shared/logger.ts';

const ledgerIndex = resolve(import.meta.dirname, '../src/ledger/index.ts');
const loggerModule = resolve(import.meta.dirname, '../src/shared/logger.ts');
const dirs: string[] = [];

afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

// The writer: appends as fast as it can and prints each acknowledged seq, until killed.
const WRITER = `
const { generateKeyPairFromSeed } = await import('@libp2p/crypto/keys');
const { peerIdFromPrivateKey } = await import('@libp2p/peer-id');
const { Ledger, offlineTransport } = await import(${JSON.stringify(ledgerIndex)});
const { silentLogger } = await import(${JSON.stringify(loggerModule)});
const key = await generateKeyPairFromSeed('Ed25519', Buffer.from(process.env.SEED, 'hex'));
const ledger = new Ledger({ path: process.env.DIR, privateKey: key, transport: offlineTransport(peerIdFromPrivateKey(key).toString()), topic: 't', log: silentLogger() });
await ledger.start();
for (let round = 0; ; round += 1) {
  const entries = round % 2 === 0
    ? [await ledger.put('k', 'r' + (round % 50), round)]
    : await ledger.putMany(Array.from({ length: 20 }, (_, i) => ({ op: 'put', bucket: 'm', key: 'x' + i, value: round })));
  process.stdout.write('ack ' + entries[entries.length - 1].seq + '\\n');
}
`;

describe('ledger durability', () => {
  it('has every acknowledged entry after SIGKILL', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kml-kill-'));
    dirs.push(dir);
    const seed = randomBytes(32);
    const child = spawn(process.execPath, ['--input-type=module', '-e', WRITER], {
      cwd: resolve(import.meta.dirname, '..'),
      env: { ...process.env, SEED: seed.toString('hex'), DIR: dir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((done) => child.once('exit', done));
    let acked = 0;
    try {
      for await (const line of createInterface({ input: child.stdout })) {
        acked = Number(line.split(' ')[1]);
        if (acked >= 1_500) break;
      }
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    expect(acked).toBeGreaterThanOrEqual(1_500);

    const key = await generateKeyPairFromSeed('Ed25519', seed);
    const ledger = new Ledger({
      path: dir,
      privateKey: key,
      transport: offlineTransport(peerIdFromPrivateKey(key).toString()),
      topic: 't',
      log: silentLogger(),
    });
    await ledger.start();
    try {
      const stats = ledger.stats();
      expect(stats.ownSeq).toBeGreaterThanOrEqual(acked);
      expect(stats.entries).toBe(stats.ownSeq);
      expect(await ledger.verify()).toMatchObject({ invalid: 0, holes: 0, entries: stats.ownSeq });
      // The clock and chain continue where the killed process stopped.
      expect((await ledger.put('k', 'after', true)).seq).toBe(stats.ownSeq + 1);
    } finally {
      await ledger.stop();
    }
  });
});
