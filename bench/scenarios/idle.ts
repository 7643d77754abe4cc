import { BENCH_SECRET, startServer, type Server } from '../lib/children.js';
import { LOCAL_ADDRESSES, startGenerators } from '../lib/generators.js';
import { cpuPercent, serverMemory, type Memory } from '../lib/measure.js';
import { threshold, type Row, type Scenario, type ScenarioResult } from '../lib/report.js';
import { SYSTEMS, type System } from './fanout.js';

interface IdleResult {
  connections: number;
  before: Memory;
  after: Memory;
  rssPerConn: number;
  heapPerConn: number;
  idleCpuPercent: number;
  stillOpen: number;
}

const IDLE_GENS = 2;
const CONNECT_CONCURRENCY = 100;
const CONNECT_DEADLINE_MS = 180_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sizes(quick: boolean) {
  return quick ? { connections: 1_000, settleMs: 1_000, cpuMs: 2_000 } : { connections: 10_000, settleMs: 3_000, cpuMs: 10_000 };
}

/**
 * Memory per idle connection as the server process reports it (after minus before, over the
 * number of connections) and the server's CPU while they sit idle, from /proc/<pid>/stat.
 * The connections are spread over two generator processes and several 127.0.0.x addresses.
 */
async function measure(system: System, server: Server, tag: string, quick: boolean): Promise<IdleResult> {
  const { connections, settleMs, cpuMs } = sizes(quick);
  await sleep(settleMs);
  const before = await serverMemory(server.kind, server.port, server.pid);
  const gens = await startGenerators(IDLE_GENS, tag);
  try {
    const per = Math.ceil(connections / gens.length);
    const results = await Promise.all(
      gens.map((g, i) =>
        g.connect({
          target: { kind: system.kind, port: server.port, ...(server.kind === 'parley' ? { secret: BENCH_SECRET } : {}) },
          count: Math.min(per, connections - i * per),
          offset: i * per,
          userPrefix: `${tag}-idle-`,
          localAddresses: LOCAL_ADDRESSES,
          concurrency: CONNECT_CONCURRENCY,
          sampleEvery: 0,
          deadlineMs: CONNECT_DEADLINE_MS,
        }),
      ),
    );
    const connected = results.reduce((s, r) => s + r.connected, 0);
    if (connected < connections * 0.95) {
      throw new Error(`only ${connected} of ${connections} connections opened: ${results.find((r) => r.firstError)?.firstError}`);
    }
    await sleep(settleMs);
    const after = await serverMemory(server.kind, server.port, server.pid);
    const idleCpuPercent = await cpuPercent(server.pid, cpuMs);
    const status = await Promise.all(gens.map((g) => g.status()));
    return {
      connections: connected,
      before,
      after,
      rssPerConn: (after.rss - before.rss) / connected,
      heapPerConn: (after.heapUsed - before.heapUsed) / connected,
      idleCpuPercent,
      stillOpen: status.reduce((s, x) => s + x.open, 0),
    };
  } finally {
    await Promise.allSettled(gens.map((g) => g.close()));
  }
}

export const idle: Scenario = {
  name: 'idle',
  async run(opts): Promise<ScenarioResult> {
    const rows: Row[] = [];
    const raw: Record<string, IdleResult | { error: string }> = {};
    for (const [i, system] of SYSTEMS.entries()) {
      const tag = `idle${i}`;
      let server: Server | undefined;
      try {
        server = await startServer(system.server, tag);
        const r = await measure(system, server, tag, opts.quick);
        raw[system.name] = r;
        rows.push(
          { system: system.name, metric: 'RSS per connection', value: r.rssPerConn, unit: `bytes (${r.connections} connections)` },
          { system: system.name, metric: 'heap per connection', value: r.heapPerConn, unit: 'bytes' },
          { system: system.name, metric: 'CPU while idle', value: r.idleCpuPercent, unit: '% of a core' },
        );
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        raw[system.name] = { error };
        rows.push({ system: system.name, metric: 'failed', value: error.split('\n')[0] ?? error, unit: '' });
      } finally {
        await server?.stop();
      }
    }
    const native = raw['Parley /ws'];
    return {
      scenario: 'idle',
      rows,
      raw: { sizes: sizes(opts.quick), results: raw },
      ratios: [threshold('idle: Parley /ws RSS bytes per connection', native && 'rssPerConn' in native ? native.rssPerConn : undefined, '<=', 4096)],
    };
  },
};
