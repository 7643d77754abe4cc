import { BENCH_SECRET, startServer, type ServerKind } from '../lib/children.js';
import type { Kind } from '../lib/client.js';
import { runFanout, type FanoutResult } from '../lib/fanout-run.js';
import { ratio, type BenchOptions, type Row, type Scenario, type ScenarioResult } from '../lib/report.js';

export interface System {
  name: string;
  server: ServerKind;
  kind: Kind;
  /** Subscribers connect with `/ws?batch=1`. */
  batch?: boolean;
}

export const SYSTEMS: System[] = [
  { name: 'raw uWS publish', server: 'raw-uws', kind: 'ws' },
  { name: 'stock Socket.IO', server: 'stock-sio', kind: 'sio' },
  { name: 'Parley /ws', server: 'parley', kind: 'ws' },
  { name: 'Parley Socket.IO', server: 'parley', kind: 'sio' },
];

/**
 * Slow-consumer limits out of the way: the figure is what the server can push, not when it
 * gives up on a generator that falls behind (the raw server buffers up to 64 MiB as well).
 */
export const PARLEY_FANOUT_ENV = { SLOW_BYTES: String(16 * 1024 * 1024) };

export function fanoutSizes(opts: BenchOptions) {
  const window = opts.window;
  return opts.quick
    ? { subscribers: 200, warmupMs: 1_000, durationMs: 3_000, window, bodyBytes: 100 }
    : { subscribers: 1_000, warmupMs: 2_000, durationMs: 10_000, window, bodyBytes: 100 };
}

/** Starts `system`'s server, measures one fan-out run against it, stops it. */
export async function fanoutOnce(system: System, tag: string, opts: BenchOptions, extra: Partial<Parameters<typeof runFanout>[0]> = {}): Promise<FanoutResult> {
  const server = await startServer(system.server, tag, system.server === 'parley' ? PARLEY_FANOUT_ENV : {});
  try {
    return await runFanout({
      tag,
      kind: system.kind,
      ...(system.server === 'parley' ? { secret: BENCH_SECRET } : {}),
      ...(system.batch ? { batch: true } : {}),
      ports: [server.port],
      serverPids: [server.pid],
      gens: opts.gens,
      mode: 'max',
      sampleEvery: 0,
      ...fanoutSizes(opts),
      ...extra,
    });
  } finally {
    await server.stop();
  }
}

export function fanoutRows(system: string, r: FanoutResult): Row[] {
  return [
    { system, metric: 'deliveries/s', value: r.deliveriesPerS, unit: '' },
    { system, metric: 'messages/s', value: r.messagesPerS, unit: `(${r.subscribers} subscribers)` },
    { system, metric: 'deliveries per server CPU-second', value: r.deliveriesPerCpuS, unit: '' },
    { system, metric: 'CPU server / generators', value: `${r.cpuPercent.servers.join('+')} / ${r.cpuPercent.generators.join('+')}`, unit: '% of a core' },
    ...(r.closedByServer > 0 ? [{ system, metric: 'subscribers closed by the server', value: r.closedByServer, unit: '' }] : []),
    ...(r.publish.errors > 0 ? [{ system, metric: 'refused sends', value: r.publish.errors, unit: r.publish.firstError ?? '' }] : []),
  ];
}

/** Fan-out only: Parley's /ws with subscribers that accept batched frames. */
const PARLEY_BATCH: System = { name: 'Parley /ws batch', server: 'parley', kind: 'ws', batch: true };

export const fanout: Scenario = {
  name: 'fanout',
  async run(opts): Promise<ScenarioResult> {
    const raw: Record<string, FanoutResult | { error: string }> = {};
    const rows: Row[] = [];
    for (const [i, system] of [...SYSTEMS, PARLEY_BATCH].entries()) {
      try {
        const r = await fanoutOnce(system, `fanout${i}`, opts);
        raw[system.name] = r;
        rows.push(...fanoutRows(system.name, r));
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        raw[system.name] = { error };
        rows.push({ system: system.name, metric: 'failed', value: error.split('\n')[0] ?? error, unit: '' });
      }
    }
    const dps = (name: string) => {
      const r = raw[name];
      return r && 'deliveriesPerS' in r ? r.deliveriesPerS : undefined;
    };
    return {
      scenario: 'fanout',
      rows,
      raw: { sizes: fanoutSizes(opts), parleyEnv: PARLEY_FANOUT_ENV, results: raw },
      ratios: [
        ratio('fan-out: Parley /ws / raw uWS', dps('Parley /ws'), dps('raw uWS publish'), '>=', 0.6),
        ratio('fan-out: Parley /ws batch / raw uWS', dps('Parley /ws batch'), dps('raw uWS publish'), '>=', 0.6),
        ratio('fan-out: Parley Socket.IO / stock Socket.IO', dps('Parley Socket.IO'), dps('stock Socket.IO'), '>=', 2),
      ],
    };
  },
};
