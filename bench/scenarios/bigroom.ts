import { startServer, type Server } from '../lib/children.js';
import { connectGroup, MemberGen, sourceAddresses, sumCounts, type SendResult } from '../lib/member-gens.js';
import { cpuSeconds, type Percentiles } from '../lib/measure.js';
import { threshold, type Row, type Scenario, type ScenarioResult } from '../lib/report.js';
import { PARLEY_FANOUT_ENV } from './fanout.js';

/** PRESENCE_GRACE_S of the server: a connection leaves and joins again only after longer than this, so each leave is a real offline. */
const GRACE_S = 5;
const LATENCY_SAMPLERS = 200;

function sizes(quick: boolean) {
  return quick
    ? { members: 1_000, gens: 2, churnPerS: 20, sendPerS: 10, warmupMs: GRACE_S * 1000 + 2_000, durationMs: 5_000, bodyBytes: 100, joinDeadlineMs: 120_000 }
    : { members: 10_000, gens: 4, churnPerS: 100, sendPerS: 10, warmupMs: GRACE_S * 1000 + 3_000, durationMs: 15_000, bodyBytes: 100, joinDeadlineMs: 300_000 };
}

interface BigroomResult {
  members: number;
  /** From the first connect to the last member's join reply (or the join deadline). */
  joinMs: number;
  churnConnections: number;
  churn: { ops: number; errors: number; firstError?: string; elapsedMs: number }[];
  send: Omit<SendResult, 'ackLatencies'>;
  presencePerMemberPerS: number;
  msgsPerMemberPerS: number;
  latencyMs?: Percentiles;
  serverCpuPercent: number;
  closed: Record<string, number>;
}

/**
 * One big room: `members` connections joined, a pool of extra connections joining and leaving
 * it at `churnPerS` operations per second (each leaves and comes back only after the presence
 * grace period), and one sender at `sendPerS`. Counts the presence pushes (any `t` starting
 * with "presence") the members get per second each, and samples message latency.
 */
async function measure(server: Server, quick: boolean): Promise<BigroomResult> {
  const s = sizes(quick);
  const gens = await MemberGen.start(s.gens, 'bigroom');
  try {
    const room = 'bench-bigroom';
    const base = { port: server.port, rooms: [room], roomsPerMember: 1, localAddresses: sourceAddresses(4), batch: false, track: false, concurrency: 50, timeoutMs: 20_000, deadlineMs: s.joinDeadlineMs };
    // Every join is announced to the members already in: joining is where a big room costs
    // most, so the members that made it by the deadline are measured, and the row says how many.
    const joinStart = performance.now();
    const members = await connectGroup(gens, s.members, { ...base, group: 'big', userPrefix: 'big-m', joinRooms: true, sampleEvery: Math.max(1, Math.floor(s.members / LATENCY_SAMPLERS)) }, 0.5);
    const joinMs = performance.now() - joinStart;
    // A connection's leave and its next join are pool/rate seconds apart: more than the grace.
    const pool = Math.ceil(s.churnPerS * (GRACE_S + 2));
    const churnConnections = await connectGroup(gens, pool, { ...base, group: 'churn', userPrefix: 'big-c', joinRooms: false, sampleEvery: 0 });
    const sender = gens[0]!;
    await sender.connect({ ...base, group: 'sender', userPrefix: 'big-s', count: 1, offset: 0, joinRooms: true, sampleEvery: 0 });
    const total = s.warmupMs + s.durationMs + 30_000;
    await sender.sendStart({ group: 'sender', ratePerS: s.sendPerS, bodyBytes: s.bodyBytes, cidPrefix: 's', maxMs: total });
    await Promise.all(gens.map((g) => g.churnStart({ group: 'churn', room, ratePerS: s.churnPerS / gens.length, maxMs: total })));
    let stopped = false;
    const stop = async () => {
      stopped = true;
      const [send, ...churn] = await Promise.all([sender.sendStop('sender'), ...gens.map((g) => g.churnStop('churn'))]);
      return { send, churn };
    };
    try {
      await new Promise((r) => setTimeout(r, s.warmupMs));
      const cpu0 = cpuSeconds(server.pid);
      const t0 = performance.now();
      const starts = await Promise.all(gens.map((g) => g.countStart('big')));
      await new Promise((r) => setTimeout(r, s.durationMs));
      const stops = await Promise.all(gens.map((g) => g.countStop('big')));
      const serverCpuPercent = ((cpuSeconds(server.pid) - cpu0) / ((performance.now() - t0) / 1000)) * 100;
      const { send, churn } = await stop();
      const c = sumCounts(starts, stops);
      const status = await Promise.all(gens.map((g) => g.status()));
      const closed: Record<string, number> = {};
      for (const st of status) for (const [k, v] of Object.entries(st.closeCodes)) closed[k] = (closed[k] ?? 0) + v;
      const { ackLatencies: _, ...sendRest } = send;
      return {
        members,
        joinMs,
        churnConnections,
        churn,
        send: sendRest,
        presencePerMemberPerS: c.presence / members / c.seconds,
        msgsPerMemberPerS: c.msgs / members / c.seconds,
        ...(c.latencyMs ? { latencyMs: c.latencyMs } : {}),
        serverCpuPercent,
        closed,
      };
    } finally {
      if (!stopped) await stop().catch(() => undefined);
    }
  } finally {
    await Promise.allSettled(gens.map((g) => g.close()));
  }
}

export const bigroom: Scenario = {
  name: 'bigroom',
  async run(opts): Promise<ScenarioResult> {
    const s = sizes(opts.quick);
    const system = 'Parley /ws';
    let server: Server | undefined;
    try {
      server = await startServer('parley', 'bigroom', { ...PARLEY_FANOUT_ENV, PRESENCE_GRACE_S: String(GRACE_S) });
      const r = await measure(server, opts.quick);
      const l = r.latencyMs;
      const churnOps = r.churn.reduce((a, x) => a + x.ops, 0);
      const churnErrors = r.churn.reduce((a, x) => a + x.errors, 0);
      const closedTotal = Object.values(r.closed).reduce((a, b) => a + b, 0);
      const rows: Row[] = [
        { system, metric: 'load', value: `${r.members} members (of ${s.members}), ${s.churnPerS} joins+leaves/s over ${r.churnConnections} connections, ${s.sendPerS} msg/s`, unit: '' },
        { system, metric: 'time to connect and join the members', value: r.joinMs, unit: `ms (deadline ${s.joinDeadlineMs})` },
        { system, metric: 'presence frames per member per second', value: r.presencePerMemberPerS, unit: '' },
        { system, metric: 'msg frames per member per second', value: r.msgsPerMemberPerS, unit: `(sends: ${r.send.sent} sent, ${r.send.acked} acked, ${r.send.errors} refused, ${r.send.inflight} unanswered at the end)` },
        { system, metric: 'message latency p50 / p99', value: l ? `${l.p50.toFixed(2)} / ${l.p99.toFixed(2)}` : 'no samples', unit: 'ms' },
        { system, metric: 'server CPU', value: r.serverCpuPercent, unit: '% of a core' },
        { system, metric: 'churn operations done / refused', value: `${churnOps} / ${churnErrors}`, unit: r.churn.find((x) => x.firstError)?.firstError ?? '' },
        ...(closedTotal > 0 ? [{ system, metric: 'connections closed by the server', value: closedTotal, unit: JSON.stringify(r.closed) }] : []),
      ];
      return {
        scenario: 'bigroom',
        rows,
        raw: { sizes: s, result: r },
        ratios: [
          threshold(`bigroom: presence frames per member per second (${r.members} members)`, r.presencePerMemberPerS, '<=', 2),
          threshold('bigroom: message p99 latency during churn, ms', l?.p99, '<='),
        ],
      };
    } finally {
      await server?.stop();
    }
  },
};
