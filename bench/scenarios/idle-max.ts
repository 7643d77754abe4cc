import { readdirSync } from 'node:fs';
import { BENCH_SECRET, startServer, type Server } from '../lib/children.js';
import { startGenerators, type Generator } from '../lib/generators.js';
import { openFilesLimit, sourceAddresses } from '../lib/member-gens.js';
import { cpuPercent, serverMemory, type Memory } from '../lib/measure.js';
import { threshold, type Row, type Scenario, type ScenarioResult } from '../lib/report.js';

const TARGET = 100_000;
/** Descriptors kept free in every process for its listener, pipes, logs and the odd HTTP request. */
const FD_MARGIN = 300;
const CONNECT_CONCURRENCY = 100;
const CONNECT_DEADLINE_MS = 300_000;
/** Sockets per source address: well under the ~28,000 ephemeral ports one address has per destination. */
const PER_ADDRESS = 5_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sizes(quick: boolean) {
  return quick ? { target: 2_000, settleMs: 2_000, cpuMs: 5_000 } : { target: TARGET, settleMs: 5_000, cpuMs: 20_000 };
}

interface IdleMaxResult {
  target: number;
  planned: number;
  cappedBy: string;
  connections: number;
  stillOpen: number;
  generators: number;
  before: Memory;
  after: Memory;
  rssPerConn: number;
  heapPerConn: number;
  idleCpuPercent: number;
}

/**
 * As many idle /ws connections on one Parley node as the machine allows (the target is
 * 100,000): the count is capped by the open-files limit of the server process (read from
 * /proc at run time) less the descriptors it already holds and a margin. The sockets are
 * spread over generator processes (each under its own limit) and over 127.0.0.2 and up.
 */
async function measure(server: Server, quick: boolean): Promise<IdleMaxResult> {
  const { target, settleMs, cpuMs } = sizes(quick);
  const serverLimit = openFilesLimit(server.pid);
  const room = serverLimit - readdirSync(`/proc/${server.pid}/fd`).length - FD_MARGIN;
  const planned = Math.max(0, Math.min(target, room));
  const cappedBy = planned < target ? `the server's open-files limit (${serverLimit}, less ${serverLimit - room} in use or kept free)` : 'none (target reached)';
  await sleep(settleMs);
  const before = await serverMemory('parley', server.port, server.pid);
  let gens: Generator[] = await startGenerators(1, 'idlemax');
  const perGen = openFilesLimit(gens[0]!.proc.pid) - FD_MARGIN;
  const want = Math.max(2, Math.ceil(planned / perGen));
  if (want > 1) gens = [...gens, ...(await startGenerators(want - 1, 'idlemax-more'))];
  try {
    const per = Math.ceil(planned / gens.length);
    const addresses = sourceAddresses(Math.max(2, Math.ceil(planned / PER_ADDRESS)));
    const results = await Promise.all(
      gens.map((g, i) =>
        g.connect({
          target: { kind: 'ws', port: server.port, secret: BENCH_SECRET },
          count: Math.max(0, Math.min(per, planned - i * per)),
          offset: i * per,
          userPrefix: 'idlemax-',
          localAddresses: addresses,
          concurrency: CONNECT_CONCURRENCY,
          sampleEvery: 0,
          deadlineMs: CONNECT_DEADLINE_MS,
        }),
      ),
    );
    const connected = results.reduce((s, r) => s + r.connected, 0);
    if (connected < planned * 0.95) throw new Error(`only ${connected} of ${planned} connections opened: ${results.find((r) => r.firstError)?.firstError}`);
    await sleep(settleMs);
    const after = await serverMemory('parley', server.port, server.pid);
    const idleCpuPercent = await cpuPercent(server.pid, cpuMs);
    const status = await Promise.all(gens.map((g) => g.status()));
    return {
      target,
      planned,
      cappedBy,
      connections: connected,
      stillOpen: status.reduce((s, x) => s + x.open, 0),
      generators: gens.length,
      before,
      after,
      rssPerConn: (after.rss - before.rss) / connected,
      heapPerConn: (after.heapUsed - before.heapUsed) / connected,
      idleCpuPercent,
    };
  } finally {
    await Promise.allSettled(gens.map((g) => g.close()));
  }
}

export const idleMax: Scenario = {
  name: 'idle-max',
  async run(opts): Promise<ScenarioResult> {
    const system = 'Parley /ws';
    let server: Server | undefined;
    try {
      server = await startServer('parley', 'idlemax');
      const r = await measure(server, opts.quick);
      const rows: Row[] = [
        { system, metric: 'connections reached', value: r.connections, unit: `of ${r.target} wanted; capped by ${r.cappedBy}; ${r.generators} generators` },
        { system, metric: 'still open after the idle window', value: r.stillOpen, unit: '' },
        { system, metric: 'RSS per connection', value: r.rssPerConn, unit: 'bytes' },
        { system, metric: 'heap per connection', value: r.heapPerConn, unit: 'bytes' },
        { system, metric: 'CPU while idle', value: r.idleCpuPercent, unit: `% of a core over ${sizes(opts.quick).cpuMs / 1000} s` },
      ];
      return {
        scenario: 'idle-max',
        rows,
        raw: { sizes: sizes(opts.quick), result: r },
        ratios: [
          threshold(`idle-max: RSS bytes per connection (${r.connections} connections)`, r.rssPerConn, '<=', 2048),
          threshold(`idle-max: CPU % of a core while idle (${r.connections} connections)`, r.idleCpuPercent, '<=', 3),
        ],
      };
    } finally {
      await server?.stop();
    }
  },
};
