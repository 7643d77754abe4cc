// A chaos run from start to report, shared by the short run in `npm test` (chaos.test.ts) and
// the long one (`npm run chaos`, scripts/chaos.ts): the cluster, the client mix, the seeded
// fault schedule, the check, and the JSON report with its one-screen summary.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FaultCluster } from './cluster.js';
import type { FaultKind, ServiceClusterFaultKind } from './faults.js';
import type { Anomaly, AnomalyKind, Operation } from './history.js';
import { anomalySummary, chaos, describeAnomaly, type FaultRecord, type RunResult } from './run.js';
import { plans, type WorkloadOptions } from './workload.js';

export interface ChaosSettings {
  seed: number;
  runMs: number;
  gateways: number;
  workers: number;
  clients: number;
  log?: (line: string) => void;
  /** Keeps every process's whole output there (see ClusterOptions.logDir). */
  logDir?: string;
}

export interface ChaosReport {
  ok: boolean;
  seed: number;
  startedAt: string;
  /** When the workload started (epoch ms): faults' `at` count from here, anomalies' `at` are epoch ms. */
  runStartedAt: number;
  /** The whole run: faults, then settling and checking. */
  durationMs: number;
  runMs: number;
  shape: { gateways: number; workers: number; clients: number; rooms: string[] };
  operations: Partial<Record<Operation['op'], number>>;
  acked: number;
  stored: number;
  faults: { total: number; failed: number; byKind: Partial<Record<FaultKind | ServiceClusterFaultKind, number>>; list: FaultRecord[] };
  anomalies: { total: number; byKind: Partial<Record<AnomalyKind, { count: number; examples: Anomaly[] }>> };
}

const ROOMS = ['chaos-a', 'chaos-b', 'chaos-c'];

/**
 * Clients of ceil(n * 2/3) users (some with two devices), each in two of three rooms; two of
 * them hold 8 s tokens, one renewing with `auth`, one left to expire (4001) and reconnect.
 */
export function chaosWorkload(clients: number): WorkloadOptions {
  const users = Math.max(1, Math.ceil((clients * 2) / 3));
  const all = plans(clients, users, ROOMS).map((p, i) => ({
    ...p,
    rooms: [ROOMS[i % 3], ROOMS[(i + 1) % 3]].filter((r): r is string => r !== undefined),
    ...(i < 2 ? { tokenTtlS: 8, renew: i === 0 } : {}),
  }));
  return { clients: all, paceMs: [200, 600], resendRate: 0.1, abandonRate: 0.05, bodyBytes: 200 };
}

/** Starts a cluster, runs the seeded schedule, checks, stops the cluster; the report says how it went. */
export async function runChaos(settings: ChaosSettings): Promise<{ report: ChaosReport; result: RunResult; tail: string }> {
  const startedAt = new Date();
  const cluster = await FaultCluster.start({
    name: 'chaos',
    gateways: settings.gateways,
    workers: settings.workers,
    // Small join replies, so that rejoins after faults go through `more` and `history` `after`
    // (the reply cap must hold six bodies and a message's longest summary, hence the smaller
    // body limit and reactions: the workload sends no changes).
    env: { MAX_BODY_BYTES: '1024', RECOVERY_MAX_BYTES: '16384', MAX_REACTIONS_PER_MESSAGE: '1', REACTION_USERS_SHOWN: '0' },
    ...(settings.logDir !== undefined ? { logDir: settings.logDir } : {}),
  });
  try {
    const result = await chaos(cluster, { seed: settings.seed, runMs: settings.runMs, workload: chaosWorkload(settings.clients), ...(settings.log ? { log: settings.log } : {}) });
    const report = chaosReport(result, settings, startedAt);
    return { report, result, tail: report.ok ? '' : cluster.outputTail(8) };
  } finally {
    await cluster.close();
  }
}

export function chaosReport(result: RunResult, settings: ChaosSettings, startedAt: Date): ChaosReport {
  const byKind: Partial<Record<FaultKind | ServiceClusterFaultKind, number>> = {};
  for (const f of result.faults) byKind[f.kind] = (byKind[f.kind] ?? 0) + 1;
  return {
    ok: result.check.ok,
    seed: result.seed,
    startedAt: startedAt.toISOString(),
    runStartedAt: result.startedAt,
    durationMs: Date.now() - startedAt.getTime(),
    runMs: settings.runMs,
    shape: { gateways: settings.gateways, workers: settings.workers, clients: settings.clients, rooms: ROOMS },
    operations: result.check.stats.operations,
    acked: result.check.stats.acked,
    stored: result.check.stats.stored,
    faults: { total: result.faults.length, failed: result.faults.filter((f) => f.error !== undefined).length, byKind, list: result.faults },
    anomalies: { total: result.check.anomalies.length, byKind: anomalySummary(result.check, 5) },
  };
}

/** Writes `test-results/chaos-<timestamp>.json`; returns its path. */
export function writeReport(report: ChaosReport, dir = join(process.cwd(), 'test-results')): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `chaos-${report.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}

/** A few lines: seed, size of the run, faults by kind, anomalies by kind. */
export function summarize(report: ChaosReport): string {
  const kinds = (o: Partial<Record<string, number>>): string =>
    Object.entries(o)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || 'none';
  const anomalies = Object.fromEntries(Object.entries(report.anomalies.byKind).map(([k, v]) => [k, v.count]));
  return [
    `chaos seed ${report.seed} (replay: CHAOS_SEED=${report.seed}): ${report.ok ? 'no anomalies' : `${report.anomalies.total} ANOMALIES`}`,
    `  ${(report.durationMs / 1000).toFixed(0)} s in all, ${(report.runMs / 1000).toFixed(0)} s under faults; ${report.shape.gateways} gateways, ${report.shape.workers} workers, ${report.shape.clients} clients`,
    `  operations: ${kinds(report.operations)}; ${report.acked} acknowledged, ${report.stored} stored`,
    `  faults (${report.faults.total}, ${report.faults.failed} failed to inject): ${kinds(report.faults.byKind)}`,
    `  anomalies: ${kinds(anomalies)}`,
    ...Object.entries(report.anomalies.byKind).flatMap(([kind, v]) => v.examples.slice(0, 2).map((a) => `    ${kind}: ${describeAnomaly(a, report.runStartedAt)}`)),
  ].join('\n');
}
