import { describe, expect, it } from 'vitest';
import { runSimulation } from './sim.ts';

describe('ledger convergence simulation (small)', () => {
  it.each([
    { seed: 7, syncOnReconnect: 1 },
    { seed: 8, syncOnReconnect: 0 },
    { seed: 9, syncOnReconnect: 1, loss: 0.3 },
  ])('every acknowledged write reaches every node after partitions heal (%o)', async (scenario) => {
    const result = await runSimulation({ nodes: 60, writes: 80, keys: 10, ...scenario });
    const context = `seed ${scenario.seed}: ${JSON.stringify(result)}`;
    expect(result.converged, context).toBe(true);
    expect(result.acknowledgedWrites, context).toBe(80);
    expect(result.missingWrites, context).toBe(0);
    expect(result.identicalState, context).toBe(true);
    expect(result.rejected, context).toBe(0);
    // Partitions really cut traffic, and anti-entropy really repaired something.
    expect(result.messages.gossipCut, context).toBeGreaterThan(0);
    expect(result.messages.syncEntries, context).toBeGreaterThan(0);
  });

  it('is deterministic for a seed', async () => {
    const first = await runSimulation({ nodes: 30, writes: 30, seed: 3 });
    const second = await runSimulation({ nodes: 30, writes: 30, seed: 3 });
    expect({ ...second, wallSeconds: 0 }).toEqual({ ...first, wallSeconds: 0 });
  });
});
