/**
 * Seeded discrete-event simulation of the roles election at 1,000-10,000 nodes, beside a model
 * of Kairos' algorithm on the same network. Prints one JSON object.
 *
 *   npx node simulations/election/run.ts [--runs N] [--nodes N] [--seed S] [--model ours|kairos|both]
 *     [--minimum-nodes M] [--masters K] [--boot-spread MS] [--partition-rate P] [--crash-rate P] [--loss P] [--sync-window MS]
 *     [--partition-start after-quorum|boot] [--partition-max MS]
 */
import { parseArgs } from 'node:util';
import { runKairos, type KairosResult } from './kairos.ts';
import { runOurs, type RunResult } from './ours.ts';
import { DEFAULT_PARAMS, Scenario, type SimParams } from './scenario.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '100' },
    nodes: { type: 'string', default: String(DEFAULT_PARAMS.nodes) },
    seed: { type: 'string', default: '1' },
    model: { type: 'string', default: 'both' },
    'minimum-nodes': { type: 'string' },
    masters: { type: 'string' },
    'boot-spread': { type: 'string' },
    'partition-rate': { type: 'string' },
    'partition-start': { type: 'string' },
    'partition-max': { type: 'string' },
    'crash-rate': { type: 'string' },
    loss: { type: 'string' },
    'sync-window': { type: 'string' },
  },
});

const number = (text: string | undefined, fallback: number): number =>
  text === undefined ? fallback : Number(text);
const params: SimParams = {
  ...DEFAULT_PARAMS,
  nodes: number(values.nodes, DEFAULT_PARAMS.nodes),
  minimumNodes: number(values['minimum-nodes'], DEFAULT_PARAMS.minimumNodes),
  masters: number(values.masters, DEFAULT_PARAMS.masters),
  bootSpreadMs: number(values['boot-spread'], DEFAULT_PARAMS.bootSpreadMs),
  partitionRate: number(values['partition-rate'], DEFAULT_PARAMS.partitionRate),
  partitionStart: values['partition-start'] === 'boot' ? 'boot' : DEFAULT_PARAMS.partitionStart,
  partitionMaxMs: number(values['partition-max'], DEFAULT_PARAMS.partitionMaxMs),
  crashRate: number(values['crash-rate'], DEFAULT_PARAMS.crashRate),
  loss: number(values.loss, DEFAULT_PARAMS.loss),
  syncWindowMs: number(values['sync-window'], DEFAULT_PARAMS.syncWindowMs),
};
const runs = number(values.runs, 100);
const seed = number(values.seed, 1);
const model = values.model;

function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!);
}

const ours: RunResult[] = [];
const kairos: KairosResult[] = [];
const failingSeeds: number[] = [];
let oursMs = 0;
let slowestRunMs = 0;
let kairosMs = 0;
for (let run = 0; run < runs; run++) {
  const runSeed = seed + run;
  const scenario = new Scenario(params, runSeed);
  if (model !== 'kairos') {
    const started = performance.now();
    const result = runOurs(scenario);
    const elapsed = performance.now() - started;
    oursMs += elapsed;
    slowestRunMs = Math.max(slowestRunMs, elapsed);
    ours.push(result);
    if (result.splitEpochs > 0 || result.initMasters > 1) failingSeeds.push(runSeed);
  }
  if (model !== 'ours') {
    const started = performance.now();
    kairos.push(runKairos(scenario));
    kairosMs += performance.now() - started;
  }
}

const sortedBy = <T>(items: T[], pick: (item: T) => number | undefined): number[] =>
  items
    .map(pick)
    .filter((value): value is number => value !== undefined)
    .sort((a, b) => a - b);

const report = {
  seed,
  runs,
  params,
  ...(ours.length === 0
    ? {}
    : {
        ours: {
          runsWithTwoClusters: ours.filter((result) => result.initMasters > 1).length,
          runsWithTwoDecisionsInOneEpoch: ours.filter((result) => result.splitEpochs > 0).length,
          failingSeeds,
          runsWithoutCommit: ours.filter((result) => !result.committed).length,
          commitLatencyMs: {
            p50: quantile(
              sortedBy(ours, (result) => result.commitLatencyMs),
              0.5,
            ),
            p99: quantile(
              sortedBy(ours, (result) => result.commitLatencyMs),
              0.99,
            ),
            max: quantile(
              sortedBy(ours, (result) => result.commitLatencyMs),
              1,
            ),
          },
          roleLatencyMs: {
            p50OfRuns: quantile(
              sortedBy(ours, (result) => result.roleLatencyP50Ms),
              0.5,
            ),
            p99Worst: quantile(
              sortedBy(ours, (result) => result.roleLatencyP99Ms),
              1,
            ),
          },
          assignedAtHorizon: Number(
            (
              ours.reduce((sum, result) => sum + result.assigned / Math.max(1, result.up), 0) / ours.length
            ).toFixed(4),
          ),
          meanEpochs: Math.round(ours.reduce((sum, result) => sum + result.maxEpoch, 0) / ours.length),
          meanVotes: Math.round(ours.reduce((sum, result) => sum + result.votes, 0) / ours.length),
          wallMs: Math.round(oursMs),
          slowestRunMs: Math.round(slowestRunMs),
        },
      }),
  ...(kairos.length === 0
    ? {}
    : {
        kairos: {
          runsWithTwoClusters: kairos.filter((result) => result.masters > 1).length,
          twoClusterRate: Number(
            (kairos.filter((result) => result.masters > 1).length / kairos.length).toFixed(4),
          ),
          runsWithoutMaster: kairos.filter((result) => result.firstMasterLatencyMs === undefined).length,
          firstMasterLatencyMs: {
            p50: quantile(
              sortedBy(kairos, (result) => result.firstMasterLatencyMs),
              0.5,
            ),
            p99: quantile(
              sortedBy(kairos, (result) => result.firstMasterLatencyMs),
              0.99,
            ),
          },
          assignedAtHorizon: Number(
            (
              kairos.reduce((sum, result) => sum + result.assigned / Math.max(1, result.up), 0) /
              kairos.length
            ).toFixed(4),
          ),
          meanLeaders: Number(
            (kairos.reduce((sum, result) => sum + result.leaders, 0) / kairos.length).toFixed(2),
          ),
          wallMs: Math.round(kairosMs),
        },
      }),
};
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
if (failingSeeds.length > 0) process.exitCode = 1;
