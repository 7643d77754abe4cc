// Shared by the fault test files: one cluster per file, a standard workload per test (rooms of
// its own), fixed seeds that CHAOS_SEED overrides, and the assertion that prints the seed and
// the anomalies by kind when the checker finds any.
import { afterAll, beforeAll, it } from 'vitest';
import { FaultCluster, type ClusterOptions } from './cluster.js';
import { describeFailure, saveHistory, scenario, type RunResult, type ScenarioOptions } from './run.js';
import { seedFromEnv } from './random.js';
import { plans, type WorkloadOptions } from './workload.js';

/** Starts the file's cluster in beforeAll and stops it in afterAll. */
export function useCluster(opts: ClusterOptions): () => FaultCluster {
  let cluster: FaultCluster | undefined;
  beforeAll(async () => {
    cluster = await FaultCluster.start(opts);
  }, 90_000);
  afterAll(async () => {
    await cluster?.close();
  }, 60_000);
  return () => {
    if (!cluster) throw new Error('the fault cluster did not start');
    return cluster;
  };
}

/** A focused test's budget: the scenario's seconds, and the end of a run that does not settle (run.ts SETTLE). */
const TEST_MS = 150_000;

/** One focused test: `opts.seed` is fixed unless CHAOS_SEED is set; the run must be clean. */
export function faultTest(title: string, cluster: () => FaultCluster, opts: ScenarioOptions): void {
  it(
    title,
    async () => {
      const result = await scenario(cluster(), { ...opts, seed: seedFor(opts.seed) });
      expectClean(result, cluster());
    },
    TEST_MS,
  );
}

/** A focused test's seed: CHAOS_SEED when set, else a fixed one, so the test runs the same schedule each time. */
export function seedFor(fixed: number): number {
  return process.env['CHAOS_SEED'] ? seedFromEnv() : fixed;
}

/** Six clients of four users in two rooms named after the test, a send every 150-400 ms each. */
export function standardWorkload(test: string, over: Partial<WorkloadOptions> = {}): WorkloadOptions {
  const rooms = [`${test}-a`, `${test}-b`];
  return { clients: plans(6, 4, rooms), paceMs: [150, 400], resendRate: 0.1, abandonRate: 0.05, ...over };
}

/** Fails with the seed and the anomalies by kind (and the processes' last output) unless the run was clean. */
export function expectClean(result: RunResult, cluster: FaultCluster): void {
  const acked = result.check.stats.acked;
  if (process.env['FAULTS_VERBOSE']) console.log(JSON.stringify({ seed: result.seed, stats: result.check.stats, faults: result.faults, closes: closeCodes(result) }));
  if (!result.check.ok) throw new Error(`${describeFailure(result, cluster)}\nhistory: ${saveHistory(result)}`);
  // A run that acknowledged nothing proves nothing: the harness, not the server, failed then.
  if (acked < 10) throw new Error(`only ${acked} sends were acknowledged (seed ${result.seed}): the run did not exercise the cluster\n${cluster.outputTail(8)}`);
}

/** How many connections closed with each code. */
function closeCodes(result: RunResult): Record<number, number> {
  const out: Record<number, number> = {};
  for (const o of result.input.operations) if (o.op === 'close') out[o.code] = (out[o.code] ?? 0) + 1;
  return out;
}
