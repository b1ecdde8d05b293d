/**
 * Installer benchmark (root): a ~300 MB OS image in a local Debian docker-registry; measures
 * install and upgrade wall time through the CLI onto a sparse disk image, and registry pull
 * throughput of our client against `skopeo copy` of the same image, interleaved in one run.
 *
 *   npx node bench/installer/run.ts [--mb 300] [--rounds 5]
 *
 * Prints one JSON object on stdout.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { prepareRoot } from '../../src/installer/prepare-root.ts';
import { silentProgress } from '../../src/installer/progress.ts';
import { DigestVerifier } from '../../src/installer/source/digest-stream.ts';
import { registryPlan } from '../../src/installer/source/image-plan.ts';
import { RegistryClient } from '../../src/installer/source/registry-client.ts';
import {
  buildOsTree,
  cli,
  push,
  releaseDisk,
  sparseDisk,
  startRegistry,
  tempDir,
  writeOciLayout,
} from '../../test/installer-fixtures.ts';

const { values } = parseArgs({
  options: { mb: { type: 'string', default: '300' }, rounds: { type: 'string', default: '5' } },
});
const totalMb = Number(values.mb);
const rounds = Number(values.rounds);

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Half incompressible (binaries, compressed assets), half many small text-like files. */
async function fillPayload(root: string, mb: number): Promise<void> {
  const big = join(root, 'opt/blobs');
  await mkdir(big, { recursive: true });
  for (let i = 0; i < Math.ceil(mb / 2 / 16); i += 1)
    await writeFile(join(big, `blob-${i}.bin`), randomBytes(16 * 1024 * 1024));
  const small = join(root, 'usr/share/data');
  const line = 'kairos mesh benchmark payload line with some repetition 0123456789\n';
  const text = Buffer.from(line.repeat(Math.ceil(32_768 / line.length)));
  const count = Math.ceil((mb / 2) * 32);
  for (let i = 0; i < count; i += 1) {
    const dir = join(small, String(i % 64));
    if (i < 64) await mkdir(dir, { recursive: true });
    // Unique head so files do not deduplicate, compressible body.
    await writeFile(join(dir, `f-${i}.txt`), Buffer.concat([randomBytes(2048), text]));
  }
}

const dir = await tempDir('bench');
const registry = await startRegistry(dir);
const disk = join(dir, 'disk.img');
try {
  const layout = join(dir, 'layout');
  const payload = await buildOsTree(join(dir, 'payload'), 'payload', (root) => fillPayload(root, totalMb));
  const v1 = await buildOsTree(join(dir, 'v1'), '1');
  const v2 = await buildOsTree(join(dir, 'v2'), '2');
  // Layers: the payload (shared by both versions), then the small version layer.
  await writeOciLayout(layout, [payload, v1], { tag: '1' });
  await writeOciLayout(layout, [payload, v2], { tag: '2' });
  await push(layout, '1', `${registry.host}/bench/os:1`);
  await push(layout, '2', `${registry.host}/bench/os:2`);

  const client = new RegistryClient(registry.host);
  const plan = await registryPlan(client, 'bench/os', '1');
  const imageBytes = plan.layers.reduce((sum, layer) => sum + (layer.size ?? 0), 0);

  const skopeoSeconds: number[] = [];
  const oursSeconds: number[] = [];
  for (let round = 0; round < rounds; round += 1) {
    const skopeoDir = join(dir, `skopeo-${round}`);
    let start = performance.now();
    const copied = spawnSync('skopeo', [
      'copy',
      '--quiet',
      '--src-tls-verify=false',
      `docker://${registry.host}/bench/os:1`,
      `dir:${skopeoDir}`,
    ]);
    if (copied.status !== 0) throw new Error(`skopeo copy failed: ${copied.stderr.toString()}`);
    skopeoSeconds.push((performance.now() - start) / 1000);
    await rm(skopeoDir, { recursive: true, force: true });

    const oursDir = join(dir, `ours-${round}`);
    await mkdir(oursDir);
    start = performance.now();
    const fresh = await registryPlan(new RegistryClient(registry.host), 'bench/os', '1');
    for (const [index, layer] of fresh.layers.entries()) {
      await pipeline(
        await layer.open(),
        new DigestVerifier(layer.digest, `layer ${index}`, { size: layer.size! }),
        createWriteStream(join(oursDir, String(index))),
      );
    }
    oursSeconds.push((performance.now() - start) / 1000);
    await rm(oursDir, { recursive: true, force: true });
  }

  // The install's own pull phase: fetch, verify, decompress and apply every layer.
  const pullStart = performance.now();
  const prepared = await prepareRoot({
    source: `oci://${registry.host}/bench/os:1`,
    workDir: dir,
    progress: silentProgress,
  });
  const pullExtractSeconds = (performance.now() - pullStart) / 1000;
  await prepared.cleanup();

  await sparseDisk(disk, 8192);
  let start = performance.now();
  const installed = await cli([
    'install',
    '--device',
    disk,
    '--source',
    `oci://${registry.host}/bench/os:1`,
    '--yes',
    '--work-dir',
    dir,
  ]);
  const installSeconds = (performance.now() - start) / 1000;
  if (installed.code !== 0) throw new Error(`install failed: ${installed.stderr}`);
  start = performance.now();
  const upgraded = await cli([
    'upgrade',
    '--device',
    disk,
    '--source',
    `oci://${registry.host}/bench/os:2`,
    '--work-dir',
    dir,
  ]);
  const upgradeSeconds = (performance.now() - start) / 1000;
  if (upgraded.code !== 0) throw new Error(`upgrade failed: ${upgraded.stderr}`);

  const mbps = (seconds: number): number => Math.round((imageBytes / 1048576 / seconds) * 10) / 10;
  const round2 = (value: number): number => Math.round(value * 100) / 100;
  const result = {
    bench: 'installer',
    imageCompressedMiB: Math.round(imageBytes / 1048576),
    imageUncompressedMiB: totalMb,
    rounds,
    installSeconds: round2(installSeconds),
    upgradeSeconds: round2(upgradeSeconds),
    pullAndExtract: { seconds: round2(pullExtractSeconds), compressedMiBps: mbps(pullExtractSeconds) },
    pull: {
      oursMiBps: mbps(median(oursSeconds)),
      skopeoMiBps: mbps(median(skopeoSeconds)),
      ratio: round2(median(skopeoSeconds) / median(oursSeconds)),
      oursSeconds: oursSeconds.map(round2),
      skopeoSeconds: skopeoSeconds.map(round2),
    },
    goals: { installSeconds: 60, upgradeSeconds: 45, pullRatio: 0.9 },
    met: {
      install: installSeconds <= 60,
      upgrade: upgradeSeconds <= 45,
      pull: median(skopeoSeconds) / median(oursSeconds) >= 0.9,
    },
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  await registry.stop();
  await releaseDisk(disk).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}
