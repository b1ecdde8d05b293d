/**
 * 1,000-node ledger convergence simulation (see sim.ts). Prints JSON.
 *   npx node simulations/ledger/run.ts [--seed 1] [--nodes 1000] [--writes 500] [--loss 0.05] ...
 * Exit code 1 (and the seed on stderr) when it does not converge or loses a write.
 */
import { parseArgs } from 'node:util';
import { DEFAULTS, runSimulation, type SimulationOptions } from './sim.ts';

const { values } = parseArgs({
  options: Object.fromEntries(Object.keys(DEFAULTS).map((name) => [name, { type: 'string' as const }])),
});
const overrides: Partial<SimulationOptions> = {};
for (const [name, value] of Object.entries(values))
  if (typeof value === 'string') overrides[name as keyof SimulationOptions] = Number(value);

const result = await runSimulation(overrides);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
if (!result.converged || result.missingWrites > 0 || !result.identicalState) {
  process.stderr.write(`ledger simulation failed with seed ${result.options.seed}\n`);
  process.exitCode = 1;
}
