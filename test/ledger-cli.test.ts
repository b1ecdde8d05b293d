import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { ApiServer } from '../src/daemon/api-server.ts';
import { registerLedgerRoutes } from '../src/daemon/ledger-routes.ts';
import { Ledger, offlineTransport } from '../src/ledger/index.ts';
import { apiSocketPath } from '../src/shared/control-api.ts';
import { silentLogger } from '../src/shared/logger.ts';
import { run } from '../src/shared/exec.ts';

const CLI = join(import.meta.dirname, '..', 'bin', 'kairos-mesh.js');
let dataDir: string;
let ledger: Ledger;
let api: ApiServer;
let selfId: string;

function cli(...args: string[]) {
  return run(process.execPath, [CLI, 'ledger', ...args, '--data-dir', dataDir], { allowFailure: true });
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'kml-cli-'));
  const privateKey = await generateKeyPair('Ed25519');
  selfId = peerIdFromPrivateKey(privateKey).toString();
  ledger = new Ledger({
    path: join(dataDir, 'ledger'),
    privateKey,
    transport: offlineTransport(selfId),
    topic: 'cli-test',
    log: silentLogger(),
  });
  await ledger.start();
  api = new ApiServer(apiSocketPath(dataDir), silentLogger());
  registerLedgerRoutes(api, ledger);
  await api.start();
});

afterAll(async () => {
  await api?.stop();
  await ledger?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('kairos-mesh ledger (CLI -> control API -> Ledger)', () => {
  it('puts JSON and strings, gets, lists, deletes, shows history', async () => {
    expect((await cli('put', 'apps', 'web', '{"replicas":2}')).stdout).toMatch(
      /^put apps\/web \(seq 1, lamport 1\)$/,
    );
    await cli('put', 'apps', 'name', 'hello world');
    await cli('put', 'apps', 'web', '{"replicas":3}');
    const valueFile = join(dataDir, 'value.json');
    await writeFile(valueFile, '[1, 2, 3]\n');
    await cli('put', 'other', 'list', '--file', valueFile);

    expect((await cli('get', 'apps', 'name')).stdout).toBe('hello world');
    expect(JSON.parse((await cli('get', 'apps', 'web', '--json')).stdout)).toMatchObject({
      value: { replicas: 3 },
      author: selfId,
      seq: 3,
    });
    expect(ledger.get('other', 'list')?.value).toEqual([1, 2, 3]);

    const table = (await cli('ls')).stdout.split('\n');
    expect(table[0]).toMatch(/^BUCKET\s+KEY\s+VALUE\s+AUTHOR\s+LAMPORT\s+TIME$/);
    expect(table.slice(1).map((line) => line.split(/\s+/).slice(0, 2).join('/'))).toEqual([
      'apps/name',
      'apps/web',
      'other/list',
    ]);
    const listed = JSON.parse((await cli('ls', 'apps', '--json')).stdout) as { key: string }[];
    expect(listed.map((item) => item.key)).toEqual(['name', 'web']);

    expect((await cli('del', 'apps', 'name')).stdout).toMatch(/^deleted apps\/name/);
    const missing = await cli('get', 'apps', 'name');
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toBe('kairos-mesh: apps/name: no such key');

    const history = JSON.parse((await cli('history', 'apps', 'web', '--json')).stdout) as {
      value: unknown;
    }[];
    expect(history.map((entry) => entry.value)).toEqual([{ replicas: 2 }, { replicas: 3 }]);
  });

  it('refuses a write the rules forbid with one line and exit 77', async () => {
    const refused = await cli('put', 'nodes', 'not-me', '{}');
    expect(refused.exitCode).toBe(77);
    expect(refused.stderr).toBe("kairos-mesh: bucket nodes: key must be this node's peer id");
    expect((await cli('put', 'nodes', selfId, '{"name":"n1"}')).exitCode).toBe(0);
  });

  it('verifies the stored entries', async () => {
    const report = JSON.parse((await cli('verify', '--json')).stdout) as { entries: number; invalid: number };
    expect(report).toMatchObject({ entries: ledger.stats().entries, invalid: 0 });
  });

  it('watches changes as they happen', async () => {
    const child = spawn(process.execPath, [CLI, 'ledger', 'watch', 'live', '--json', '--data-dir', dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
      // The watch is registered once the CLI's request reaches the daemon: write until seen.
      let first: IteratorResult<string> | undefined;
      const firstLine = lines.next();
      for (let attempt = 0; first === undefined && attempt < 100; attempt += 1) {
        await ledger.put('live', 'probe', attempt);
        first = await Promise.race([
          firstLine,
          new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 100)),
        ]);
      }
      expect(JSON.parse(first!.value as string)).toMatchObject({
        bucket: 'live',
        key: 'probe',
        deleted: false,
      });
      await ledger.put('elsewhere', 'x', 1);
      await ledger.del('live', 'probe');
      let next = JSON.parse((await lines.next()).value as string) as { key: string; deleted: boolean };
      while (!next.deleted) next = JSON.parse((await lines.next()).value as string) as typeof next;
      expect(next).toMatchObject({ bucket: 'live', key: 'probe', deleted: true });
    } finally {
      child.kill('SIGTERM');
    }
  });
});
