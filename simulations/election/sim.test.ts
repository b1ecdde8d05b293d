import { describe, expect, it } from 'vitest';
import { runKairos } from './kairos.ts';
import { runOurs } from './ours.ts';
import { DEFAULT_PARAMS, Scenario } from './scenario.ts';

const params = {
  ...DEFAULT_PARAMS,
  nodes: 60,
  bootSpreadMs: 5_000,
  horizonMs: 30_000,
  partitionRate: 0.5,
  crashRate: 0.05,
};

describe('election simulation', () => {
  it('commits exactly one bootstrap decision per run and assigns every node, with partitions and crashes', () => {
    let changed = 0;
    for (let seed = 1; seed <= 25; seed++) {
      const result = runOurs(new Scenario(params, seed));
      expect(result.splitEpochs, `seed ${seed}`).toBe(0);
      expect(result.initMasters, `seed ${seed}`).toBe(1);
      expect(result.committed, `seed ${seed}`).toBe(true);
      expect(result.assigned, `seed ${seed}`).toBe(result.up);
      if (result.maxEpoch > 1) changed++;
    }
    // Most runs also go through later epochs (nodes joining after the bootstrap).
    expect(changed).toBeGreaterThan(15);
  });

  it('without loss, the init master proposes once its pulls covered its peers, before the sync window', () => {
    const quiet = { ...params, partitionRate: 0, crashRate: 0, loss: 0 };
    for (let seed = 1; seed <= 25; seed++) {
      const result = runOurs(new Scenario(quiet, seed));
      // From the minimumNodes-th boot: presence, the settle time, the records, the pulls, two
      // vote hops; the sync window alone would be 2,150 ms after the last elector's record.
      expect(result.commitLatencyMs, `seed ${seed}`).toBeLessThan(quiet.syncWindowMs);
      expect(result.splitEpochs, `seed ${seed}`).toBe(0);
    }
  });

  it('is deterministic for a seed', () => {
    expect(runOurs(new Scenario(params, 7))).toEqual(runOurs(new Scenario(params, 7)));
    expect(runKairos(new Scenario(params, 7))).toEqual(runKairos(new Scenario(params, 7)));
  });

  it('the Kairos model assigns one role per leader tick', () => {
    const result = runKairos(new Scenario({ ...params, partitionRate: 0, crashRate: 0 }, 3));
    expect(result.masters).toBeGreaterThanOrEqual(1);
    // 30 s of 10 s ticks: a handful of assignments for 60 nodes.
    expect(result.assigned).toBeLessThan(10);
  });
});
