import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../src/cli/api-client.ts';
import type { StateItem } from '../src/ledger/index.ts';
import type { MeshStatus } from '../src/mesh/index.ts';
import {
  cli,
  cliJson,
  firstAddress,
  startDaemon,
  stopDaemon,
  tempDir,
  waitFor,
  type DaemonHandle,
} from './helpers/daemons.ts';
import { LOOPBACK_DAEMON_ARGS } from '../src/cli/spawn-daemon.ts';

const NODES = 5;
const LOOPBACK = [...LOOPBACK_DAEMON_ARGS, '--role', 'none'];

/** Five daemons through the CLI: replication, concurrent writes, crash catch-up, power cycle. */
describe('ledger across five daemons', () => {
  let root: Awaited<ReturnType<typeof tempDir>>;
  let token: string;
  const daemons: DaemonHandle[] = [];

  const start = (i: number, extra: string[] = []): Promise<DaemonHandle> =>
    startDaemon({ name: `l${i}`, dataDir: join(root.path, `l${i}`), token, args: [...LOOPBACK, ...extra] });
  const list = (daemon: DaemonHandle, bucket?: string): Promise<StateItem[]> =>
    cliJson<StateItem[]>([
      'ledger',
      'ls',
      ...(bucket === undefined ? [] : [bucket]),
      '--data-dir',
      daemon.dataDir,
    ]);
  const valueOn = async (daemon: DaemonHandle, bucket: string, key: string): Promise<unknown> => {
    const result = await cli(['ledger', 'get', bucket, key, '--json', '--data-dir', daemon.dataDir]);
    return result.code === 0 ? (JSON.parse(result.stdout) as StateItem).value : undefined;
  };
  const allAgree = async (bucket: string, count: number): Promise<boolean> => {
    const views = await Promise.all(daemons.map((daemon) => list(daemon, bucket)));
    return views.every((view) => view.length === count && JSON.stringify(view) === JSON.stringify(views[0]));
  };

  beforeAll(async () => {
    root = await tempDir('km-ledger-');
    token = (await cli(['token', 'new'])).stdout.trim();
    daemons.push(await start(0));
    const bootstrap = ['--bootstrap', firstAddress(daemons[0]!)];
    daemons.push(
      ...(await Promise.all(Array.from({ length: NODES - 1 }, (_, i) => start(i + 1, bootstrap)))),
    );
    await waitFor('all five connected', async () =>
      (await Promise.all(daemons.map((d) => cliJson<MeshStatus>(['status', '--data-dir', d.dataDir])))).every(
        (s) => s.alive === NODES,
      ),
    );
  }, 120_000);

  afterAll(async () => {
    await Promise.all(daemons.map((daemon) => stopDaemon(daemon, 'SIGKILL')));
    await root.remove();
  });

  it('a put on one node is readable on all', async () => {
    expect(
      (await cli(['ledger', 'put', 'apps', 'web', '{"replicas":3}', '--data-dir', daemons[2]!.dataDir])).code,
    ).toBe(0);
    await waitFor(
      'the value everywhere',
      async () =>
        (await Promise.all(daemons.map((d) => valueOn(d, 'apps', 'web')))).every(
          (v) => JSON.stringify(v) === '{"replicas":3}',
        ),
      15_000,
    );
    const missing = await cli(['ledger', 'get', 'apps', 'nope', '--data-dir', daemons[0]!.dataDir]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
  }, 30_000);

  it('five nodes writing the same key at once converge to one value everywhere', async () => {
    const results = await Promise.all(
      daemons.map((daemon, i) =>
        cli(['ledger', 'put', 'race', 'leader', `"l${i}"`, '--data-dir', daemon.dataDir]),
      ),
    );
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0, 0]);
    await waitFor(
      'one value everywhere',
      async () => {
        const values = await Promise.all(daemons.map((d) => valueOn(d, 'race', 'leader')));
        return values[0] !== undefined && values.every((v) => v === values[0]);
      },
      15_000,
    );
    // Every writer's version is kept in history: nothing was lost, one was chosen.
    await waitFor(
      'all five versions in history',
      async () =>
        (await cliJson<unknown[]>(['ledger', 'history', 'race', 'leader', '--data-dir', daemons[0]!.dataDir]))
          .length === NODES,
      15_000,
    );
  }, 30_000);

  it('a node SIGKILLed while the others write 200 entries catches up after restart', async () => {
    const victim = daemons[4]!;
    await stopDaemon(victim, 'SIGKILL');
    const writers = daemons.slice(0, 4).map((d) => new ApiClient(d.dataDir));
    await Promise.all(
      writers.map(async (client, w) => {
        for (let i = 0; i < 50; i += 1)
          await client.post('/ledger/put', { bucket: 'bulk', key: `w${w}-${i}`, value: { w, i } });
      }),
    );
    daemons[4] = await start(4);
    await waitFor(
      'the restarted node to hold all 200',
      async () => (await list(daemons[4]!, 'bulk')).length === 200,
      30_000,
    );
    expect(await allAgree('bulk', 200)).toBe(true);
  }, 90_000);

  it("a member cannot write another node's system record", async () => {
    const other = (await cliJson<MeshStatus>(['status', '--data-dir', daemons[1]!.dataDir])).peerId;
    const refused = await cli([
      'ledger',
      'put',
      'nodes',
      other,
      '{"name":"evil","addresses":[]}',
      '--data-dir',
      daemons[0]!.dataDir,
    ]);
    expect(refused.code).toBe(77);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    const reserved = await cli(['ledger', 'put', '_internal', 'x', '1', '--data-dir', daemons[0]!.dataDir]);
    expect(reserved.code).not.toBe(0);
  }, 30_000);

  it('stop all, start all: state intact and `ledger ls --json` identical on every node', async () => {
    const before = await list(daemons[0]!);
    expect(await Promise.all(daemons.map((daemon) => stopDaemon(daemon)))).toEqual([0, 0, 0, 0, 0]);
    // No --bootstrap this time: the membership records in the ledger are enough to reconnect.
    for (let i = 0; i < NODES; i += 1) daemons[i] = await start(i);
    await waitFor(
      'all five connected again',
      async () =>
        (
          await Promise.all(daemons.map((d) => cliJson<MeshStatus>(['status', '--data-dir', d.dataDir])))
        ).every((s) => s.alive === NODES),
      30_000,
    );
    const after = await Promise.all(daemons.map((daemon) => list(daemon)));
    const withoutNodes = (items: StateItem[]): StateItem[] => items.filter((item) => item.bucket !== 'nodes');
    for (const view of after) expect(withoutNodes(view)).toEqual(withoutNodes(before));
    await waitFor(
      'identical ledgers',
      async () => {
        const views = await Promise.all(
          daemons.map((daemon) => cli(['ledger', 'ls', '--json', '--data-dir', daemon.dataDir])),
        );
        return views.every((view) => view.stdout === views[0]!.stdout);
      },
      20_000,
    );
    const verify = await cli(['ledger', 'verify', '--data-dir', daemons[3]!.dataDir]);
    expect(verify.code).toBe(0);
  }, 120_000);
});
