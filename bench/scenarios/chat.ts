import { startServer, type Server, type ServerKind } from '../lib/children.js';
import { connectGroup, MemberGen, sourceAddresses, sumCounts, type SendResult } from '../lib/member-gens.js';
import { cpuSeconds, percentiles, type Percentiles } from '../lib/measure.js';
import { ratio, type Row, type Scenario, type ScenarioResult } from '../lib/report.js';
import { PARLEY_FANOUT_ENV } from './fanout.js';

const GENS = 2;

function sizes(quick: boolean) {
  return quick
    ? { connections: 1_000, rooms: 100, ratePerS: 1_000, warmupMs: 2_000, durationMs: 4_000, bodyBytes: 100 }
    : { connections: 5_000, rooms: 500, ratePerS: 5_000, warmupMs: 3_000, durationMs: 10_000, bodyBytes: 100 };
}

interface ChatResult {
  connections: number;
  deliveriesPerS: number;
  sendsPerS: number;
  latencyMs?: Percentiles;
  ackMs?: Percentiles;
  serverCpuPercent: number;
  generatorCpuPercent: number[];
  send: Omit<SendResult, 'ackLatencies'>[];
}

/**
 * Many small rooms: every connection is a member of one room and sends into it, the total
 * rate fixed; every member samples the send-to-receive latency of what it receives (the send
 * time leads the body). Members connect with `?batch=1`.
 */
async function measure(server: Server, tag: string, quick: boolean): Promise<ChatResult> {
  const s = sizes(quick);
  const gens = await MemberGen.start(GENS, tag);
  try {
    const rooms = Array.from({ length: s.rooms }, (_, i) => `${tag}-room${i}`);
    const connections = await connectGroup(gens, s.connections, {
      group: 'chat',
      port: server.port,
      userPrefix: `${tag}-u`,
      rooms,
      roomsPerMember: 1,
      joinRooms: true,
      localAddresses: sourceAddresses(2),
      batch: true,
      track: false,
      sampleEvery: 1,
      concurrency: 50,
      timeoutMs: 15_000,
      deadlineMs: 120_000,
    });
    const total = s.warmupMs + s.durationMs;
    await Promise.all(gens.map((g) => g.sendStart({ group: 'chat', ratePerS: s.ratePerS / gens.length, bodyBytes: s.bodyBytes, cidPrefix: 'c', maxMs: total + 30_000 })));
    let sends: SendResult[] | undefined;
    try {
      await new Promise((r) => setTimeout(r, s.warmupMs));
      const pids = [server.pid, ...gens.map((g) => g.pid)];
      const cpu0 = pids.map(cpuSeconds);
      const t0 = performance.now();
      const starts = await Promise.all(gens.map((g) => g.countStart()));
      await new Promise((r) => setTimeout(r, s.durationMs));
      const stops = await Promise.all(gens.map((g) => g.countStop()));
      const seconds = (performance.now() - t0) / 1000;
      const cpu = pids.map((pid, i) => ((cpuSeconds(pid) - cpu0[i]!) / seconds) * 100);
      sends = await Promise.all(gens.map((g) => g.sendStop('chat')));
      const counted = sumCounts(starts, stops);
      const acks = sends.flatMap((x) => x.ackLatencies);
      return {
        connections,
        deliveriesPerS: counted.msgs / counted.seconds,
        sendsPerS: sends.reduce((a, x) => a + x.acked / (x.elapsedMs / 1000), 0),
        ...(counted.latencyMs ? { latencyMs: counted.latencyMs } : {}),
        ...(acks.length > 0 ? { ackMs: percentiles(acks) } : {}),
        serverCpuPercent: cpu[0]!,
        generatorCpuPercent: cpu.slice(1),
        send: sends.map(({ ackLatencies: _, ...rest }) => rest),
      };
    } finally {
      if (!sends) await Promise.allSettled(gens.map((g) => g.sendStop('chat')));
    }
  } finally {
    await Promise.allSettled(gens.map((g) => g.close()));
  }
}

/** Server CPU-microseconds per delivered message: fairer than CPU % when a busy machine held either side below the rate. */
function cpuPerDelivery(r: ChatResult): number {
  return (r.serverCpuPercent / 100 / Math.max(r.deliveriesPerS, 1)) * 1e6;
}

const SYSTEMS: { name: string; server: ServerKind }[] = [
  { name: 'raw uWS publish', server: 'raw-uws' },
  { name: 'Parley /ws', server: 'parley' },
];

export const chat: Scenario = {
  name: 'chat',
  async run(opts): Promise<ScenarioResult> {
    const s = sizes(opts.quick);
    const rows: Row[] = [];
    const raw: Record<string, ChatResult | { error: string }> = {};
    for (const [i, system] of SYSTEMS.entries()) {
      let server: Server | undefined;
      try {
        server = await startServer(system.server, `chat${i}`, system.server === 'parley' ? PARLEY_FANOUT_ENV : {});
        const r = await measure(server, `chat${i}`, opts.quick);
        raw[system.name] = r;
        const l = r.latencyMs;
        const errors = r.send.reduce((a, x) => a + x.errors, 0);
        rows.push(
          { system: system.name, metric: 'load', value: `${r.connections} connections in ${s.rooms} rooms, ${s.ratePerS} msg/s in all`, unit: '' },
          { system: system.name, metric: 'acked sends/s / deliveries/s', value: `${Math.round(r.sendsPerS)} / ${Math.round(r.deliveriesPerS)}`, unit: '' },
          { system: system.name, metric: 'send-to-receive p50 / p99', value: l ? `${l.p50.toFixed(2)} / ${l.p99.toFixed(2)}` : 'no samples', unit: 'ms' },
          { system: system.name, metric: 'server CPU', value: r.serverCpuPercent, unit: `% of a core (generators ${r.generatorCpuPercent.map(Math.round).join('+')})` },
          { system: system.name, metric: 'server CPU per delivery', value: cpuPerDelivery(r), unit: 'µs' },
          ...(errors > 0 ? [{ system: system.name, metric: 'refused sends', value: errors, unit: r.send.find((x) => x.firstError)?.firstError ?? '' }] : []),
        );
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        raw[system.name] = { error };
        rows.push({ system: system.name, metric: 'failed', value: error.split('\n')[0] ?? error, unit: '' });
      } finally {
        await server?.stop();
      }
    }
    const get = (name: string) => {
      const r = raw[name];
      return r && 'serverCpuPercent' in r ? r : undefined;
    };
    const p = get('Parley /ws');
    const u = get('raw uWS publish');
    return {
      scenario: 'chat',
      rows,
      raw: { sizes: s, batch: true, results: raw },
      ratios: [
        ratio('chat: server CPU Parley /ws / raw uWS', p?.serverCpuPercent, u?.serverCpuPercent, '<='),
        ratio('chat: server CPU per delivery Parley /ws / raw uWS', p && cpuPerDelivery(p), u && cpuPerDelivery(u), '<='),
        ratio('chat: p50 latency Parley /ws / raw uWS', p?.latencyMs?.p50, u?.latencyMs?.p50, '<='),
        ratio('chat: p99 latency Parley /ws / raw uWS', p?.latencyMs?.p99, u?.latencyMs?.p99, '<='),
      ],
    };
  },
};
