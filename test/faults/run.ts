// Runs of the fault suite: a workload under a seeded fault schedule (the chaos run) or under
// one fault (the focused tests), then the end of the run, which heals everything, lets the
// cluster settle within bounded waits, and hands the history to the checker.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_TTL_S, type FaultCluster } from './cluster.js';
import { FAULT_KINDS, holdFor, inject, planSchedule, type ActiveFault, type FaultKind, type ServiceClusterFaultKind } from './faults.js';
import { ANOMALY_KINDS, checkHistory, type Anomaly, type AnomalyKind, type CheckInput, type CheckResult, type Operation } from './history.js';
import { fork } from './random.js';
import { Workload, type WorkloadOptions } from './workload.js';

export interface FaultRecord {
  kind: FaultKind | ServiceClusterFaultKind;
  target: string;
  /** ms since the run (its workload) started. */
  at: number;
  holdMs: number;
  /** Set when injecting or healing threw: the run goes on, the report says so. */
  error?: string;
}

export interface RunResult {
  seed: number;
  /** When the workload started (epoch ms): fault and anomaly times count from here. */
  startedAt: number;
  durationMs: number;
  check: CheckResult;
  faults: FaultRecord[];
  /** What was checked: the history, the final store and presence (to check again offline). */
  input: CheckInput;
}

/**
 * How long the end of a run waits for each thing to settle: a healthy cluster takes seconds; a
 * broken one gets at most about 75 s in all, so a failing test fails with its anomalies rather
 * than its timeout. The store waits past the workers' ack wait (a dead worker's redeliveries).
 */
export const SETTLE = { acksMs: 20_000, readyMs: 15_000, storeMs: 25_000, deliveryMs: 10_000, presenceSlackMs: 5_000 };

function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `done` every 250 ms until it holds or `ms` passed; true if it held. */
async function settled(done: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await done()) return true;
    if (Date.now() >= end) return false;
    await pause(250);
  }
}

/** The highest seq any source named for each room: acks, pushes, replies. */
function highestSeqs(ops: readonly Operation[]): Map<string, number> {
  const top = new Map<string, number>();
  const note = (room: string, seq: number): void => void top.set(room, Math.max(top.get(room) ?? 0, seq));
  for (const o of ops) {
    if (o.op === 'send' && o.outcome.ok) note(o.room, o.outcome.data.seq);
    if (o.op === 'msg') note(o.room, o.message.seq);
    if (o.op === 'join' && o.outcome.ok) note(o.room, o.outcome.data.head);
  }
  return top;
}

/**
 * Heals every fault, finishes the sends in progress, waits (bounded) until MongoDB holds every
 * seq up to the highest seen, every client holds it, and presence matches the open connections;
 * then checks the history. What has not settled by then is left for the checker to report.
 */
export async function settleAndCheck(cluster: FaultCluster, workload: Workload, opts: { deliveryDeadlineMs?: number } = {}): Promise<{ check: CheckResult; input: CheckInput }> {
  await cluster.heal();
  const healedAt = Date.now();
  await workload.stopSending(SETTLE.acksMs);
  await workload.untilReady(SETTLE.readyMs);
  const rooms = workload.rooms();
  await settled(async () => {
    const top = highestSeqs(workload.ops);
    const stored = await cluster.stored(rooms);
    return rooms.every((r) => {
      const docs = stored[r] ?? [];
      const highest = Math.max(top.get(r) ?? 0, docs.at(-1)?.seq ?? 0);
      return docs.length >= highest;
    });
  }, SETTLE.storeMs);
  await settled(() => {
    const top = highestSeqs(workload.ops);
    return workload.clients.every((c) => !c.ready || c.plan.rooms.every((r) => c.position(r) >= (top.get(r) ?? 0)));
  }, SETTLE.deliveryMs);
  // docs/protocol.md: presence is true again within NODE_TTL_S + 5 s of the fault's end.
  const presenceDeadline = healedAt + NODE_TTL_S * 1000 + 5_000 + SETTLE.presenceSlackMs;
  let presence: Record<string, Record<string, number>> = {};
  let expected: Record<string, Record<string, number>> = {};
  await settled(async () => {
    expected = workload.expectedPresence();
    presence = Object.fromEntries(await Promise.all(rooms.map(async (r) => [r, await cluster.presence(r)] as const)));
    return JSON.stringify(sortDeep(presence)) === JSON.stringify(sortDeep(expected));
  }, Math.max(2_000, presenceDeadline - Date.now()));
  const store = await cluster.stored(rooms);
  const input: CheckInput = { operations: workload.ops, store, presence, expectedPresence: expected, ...opts };
  return { check: checkHistory(input), input };
}

function sortDeep(v: Record<string, Record<string, number>>): [string, [string, number][]][] {
  return Object.entries(v)
    .map(([room, users]) => [room, Object.entries(users).filter(([, n]) => n > 0).sort()] as [string, [string, number][]])
    .sort(([a], [b]) => a.localeCompare(b));
}

export interface ScenarioOptions {
  seed: number;
  workload: WorkloadOptions;
  /** Traffic before the fault, during it (unless `holdMs`), and after the heal, ms. */
  beforeMs: number;
  afterMs: number;
  /**
   * A kind (its target drawn from the seed), an injector for a chosen target, or none: the
   * workload alone (its clients may bring their own trouble, e.g. expiring tokens).
   */
  fault?: FaultKind | ((cluster: FaultCluster) => Promise<ActiveFault>);
  holdMs?: number;
  /** Runs right after the fault is injected (e.g. clients dropping their connections meanwhile). */
  duringFault?: (workload: Workload) => Promise<void>;
  /** Checks docs/protocol.md's delivery bound for members that stayed live (see CheckInput). */
  deliveryDeadlineMs?: number;
}

/** One fault in the middle of steady traffic, then the check: the focused tests. */
export async function scenario(cluster: FaultCluster, opts: ScenarioOptions): Promise<RunResult> {
  const started = Date.now();
  const workload = new Workload(cluster, opts.seed, opts.workload);
  const rng = fork(opts.seed, 'faults');
  const faults: FaultRecord[] = [];
  try {
    await workload.connect();
    workload.startSending();
    await pause(opts.beforeMs);
    const { fault } = opts;
    const holdMs = opts.holdMs ?? (typeof fault === 'string' ? holdFor(rng, fault) : 0);
    const active = typeof fault === 'string' ? await inject(cluster, fault, rng) : await fault?.(cluster);
    if (active) faults.push({ kind: active.kind, target: active.target, at: Date.now() - started, holdMs });
    const holding = pause(holdMs);
    await opts.duringFault?.(workload);
    await holding;
    await active?.heal();
    await pause(opts.afterMs);
    const { check, input } = await settleAndCheck(cluster, workload, opts.deliveryDeadlineMs !== undefined ? { deliveryDeadlineMs: opts.deliveryDeadlineMs } : {});
    return { seed: opts.seed, startedAt: started, durationMs: Date.now() - started, check, faults, input };
  } finally {
    await workload.close();
  }
}

export interface ChaosOptions {
  seed: number;
  /** Time under faults; the end of the run (settling, checking) comes on top. */
  runMs: number;
  workload: WorkloadOptions;
  kinds?: readonly FaultKind[];
  log?: (line: string) => void;
}

/** A seeded schedule of faults, one at a time, under steady traffic, then the check. */
export async function chaos(cluster: FaultCluster, opts: ChaosOptions): Promise<RunResult> {
  const started = Date.now();
  const log = opts.log ?? (() => undefined);
  const schedule = planSchedule(fork(opts.seed, 'schedule'), opts.runMs, opts.kinds ?? FAULT_KINDS);
  const rng = fork(opts.seed, 'targets');
  const workload = new Workload(cluster, opts.seed, opts.workload);
  const faults: FaultRecord[] = [];
  try {
    await workload.connect();
    workload.startSending();
    for (const step of schedule) {
      await pause(step.gapMs);
      const record: FaultRecord = { kind: step.kind, target: '?', at: Date.now() - started, holdMs: step.holdMs };
      faults.push(record);
      try {
        const active = await inject(cluster, step.kind, rng);
        record.target = active.target;
        log(`${(record.at / 1000).toFixed(1)}s ${step.kind} on ${active.target} for ${step.holdMs} ms`);
        await pause(step.holdMs);
        await active.heal();
      } catch (err) {
        // A fault that could not be injected or healed is reported, and the next heal retries.
        record.error = err instanceof Error ? err.message : String(err);
        log(`${step.kind} failed: ${record.error}`);
        await cluster.heal().catch((healErr: unknown) => log(`healing after ${step.kind} failed: ${String(healErr)}`));
      }
    }
    const { check, input } = await settleAndCheck(cluster, workload);
    return { seed: opts.seed, startedAt: started, durationMs: Date.now() - started, check, faults, input };
  } finally {
    await workload.close();
  }
}

/** Per anomaly kind: how many, and the first few. */
export function anomalySummary(check: CheckResult, examples = 3): Partial<Record<AnomalyKind, { count: number; examples: Anomaly[] }>> {
  const out: Partial<Record<AnomalyKind, { count: number; examples: Anomaly[] }>> = {};
  for (const kind of ANOMALY_KINDS) {
    const all = check.anomalies.filter((a) => a.kind === kind);
    if (all.length > 0) out[kind] = { count: all.length, examples: all.slice(0, examples) };
  }
  return out;
}

/** `room#seq @12.3s detail`: the time counts from the run's start, like the faults'. */
export function describeAnomaly(a: Anomaly, startedAt: number): string {
  const when = a.at !== undefined ? ` @${((a.at - startedAt) / 1000).toFixed(1)}s` : '';
  return `${a.room ?? ''}${a.seq !== undefined ? `#${a.seq}` : ''}${when} ${a.detail}`;
}

/** A failure message that names the seed (to replay with CHAOS_SEED) and each kind of anomaly found. */
export function describeFailure(result: RunResult, cluster?: FaultCluster): string {
  const lines = [`${result.check.anomalies.length} anomalies with seed ${result.seed} (replay: CHAOS_SEED=${result.seed})`];
  for (const [kind, s] of Object.entries(anomalySummary(result.check))) {
    lines.push(`  ${kind}: ${s.count}`, ...s.examples.map((a) => `    - ${describeAnomaly(a, result.startedAt)}`));
  }
  lines.push(`faults: ${result.faults.map((f) => `${f.kind}@${f.target} at ${(f.at / 1000).toFixed(1)}s${f.error ? ` (failed: ${f.error})` : ''}`).join(', ') || 'none'}`);
  if (cluster) lines.push('process output (tail):', cluster.outputTail(8));
  return lines.join('\n');
}

/**
 * Writes a failed run's checker input (history, final store and presence) and its anomalies to
 * test-results/faults/, so the failure can be read and checked again without running it.
 */
export function saveHistory(result: RunResult): string {
  const dir = join(process.cwd(), 'test-results', 'faults');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `seed-${result.seed}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ seed: result.seed, startedAt: result.startedAt, faults: result.faults, anomalies: result.check.anomalies, input: result.input }));
  return file;
}
