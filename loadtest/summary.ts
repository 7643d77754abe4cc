/** What one Artillery run (one transport) of loadtest/run.ts counted. */
export interface TransportResult {
  exitCode: number;
  sent: number;
  acked: number;
  lost: number;
  duplicated: number;
  errors: number;
  failedVusers: number;
  ackMs: Percentiles;
  deliveryMs: Percentiles;
}

export interface Percentiles {
  p50: number | null;
  p99: number | null;
}

export interface RunResult {
  mode: string;
  durationS: number;
  arrivalRate: number;
  ws: TransportResult;
  socketio: TransportResult;
  sent: number;
  acked: number;
  lost: number;
  duplicated: number;
  errors: number;
  nodeCrashed: boolean;
  rss: { startMb: number | null; endMb: number | null; growthMbPerHour: number | null; samples: number };
  ok: boolean;
  /** The run's full output: the node's and Artillery's lines. */
  log: string;
}

/** Artillery's aggregate report (its --output file), the parts the run reads. */
export interface ArtilleryReport {
  aggregate: { counters?: Record<string, number>; summaries?: Record<string, { p50?: number; median?: number; p99?: number }> };
}

export const RESULT_PREFIX = 'LOADTEST_RESULT ';

export function transportResult(exitCode: number, report: ArtilleryReport): TransportResult {
  const counters = report.aggregate.counters ?? {};
  const summaries = report.aggregate.summaries ?? {};
  const pct = (name: string): Percentiles => ({ p50: summaries[name]?.p50 ?? summaries[name]?.median ?? null, p99: summaries[name]?.p99 ?? null });
  return {
    exitCode,
    sent: counters['parley.sent'] ?? 0,
    acked: counters['parley.acked'] ?? 0,
    lost: counters['parley.lost_messages'] ?? 0,
    duplicated: counters['parley.duplicated'] ?? 0,
    errors: Object.entries(counters).reduce((sum, [k, v]) => (k.startsWith('errors.') ? sum + v : sum), 0),
    failedVusers: counters['vusers.failed'] ?? 0,
    ackMs: pct('parley.ack_ms'),
    deliveryMs: pct('parley.delivery_ms'),
  };
}

/** A run whose Artillery produced no report: it failed, and counted nothing. */
export function missingReport(exitCode: number): TransportResult {
  const none = { p50: null, p99: null };
  return { exitCode: exitCode || 1, sent: 0, acked: 0, lost: 0, duplicated: 0, errors: 1, failedVusers: 0, ackMs: none, deliveryMs: none };
}

const fmt = (v: number | null): string => (v === null ? 'n/a' : v.toFixed(1));
const pcts = (p: Percentiles): string => `p50 ${fmt(p.p50)} ms, p99 ${fmt(p.p99)} ms`;

/**
 * The few lines a run prints: the verdict, the counts, latencies per transport, memory, where
 * the full log is, and a last `LOADTEST_RESULT {json}` line for scripts and tests.
 */
export function formatSummary(r: RunResult, minGrowthSpanS: number): string {
  return [
    '',
    `loadtest ${r.mode}: ${r.ok ? 'PASSED' : 'FAILED'} (${r.durationS} s, ${r.arrivalRate} new users/s per transport)`,
    `  sent ${r.sent}, acknowledged ${r.acked}, lost ${r.lost}, duplicated ${r.duplicated}, errors ${r.errors}${r.nodeCrashed ? ', THE NODE EXITED' : ''}`,
    `  send->ack       /ws ${pcts(r.ws.ackMs)}; Socket.IO ${pcts(r.socketio.ackMs)}`,
    `  send->delivery  /ws ${pcts(r.ws.deliveryMs)}; Socket.IO ${pcts(r.socketio.deliveryMs)}`,
    `  RSS ${fmt(r.rss.startMb)} -> ${fmt(r.rss.endMb)} MB, growth ${r.rss.growthMbPerHour === null ? `n/a (needs ${minGrowthSpanS / 60}+ min)` : `${fmt(r.rss.growthMbPerHour)} MB/hour`} (${r.rss.samples} samples)`,
    `  full log: ${r.log}`,
    `${RESULT_PREFIX}${JSON.stringify(r)}`,
    '',
  ].join('\n');
}
